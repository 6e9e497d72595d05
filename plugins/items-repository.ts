import fp from 'fastify-plugin'
import { isUniqueViolation } from '../src/db-errors'
import { ItemExists } from '../src/errors'

export interface Item {
  id: number
  name: string
  price: number
}

function itemsRepository (db: import('fastify').FastifyInstance['db']) {
  const columns = ['id', 'name', 'price'] as const

  async function update (name: string, price: number): Promise<Item | undefined> {
    return await db.updateTable('items').set({ price }).where('name', '=', name)
      .returning(columns).executeTakeFirst()
  }

  return {
    async list (): Promise<Item[]> {
      return await db.selectFrom('items').select(columns).orderBy('id').execute()
    },

    async listNames (): Promise<string[]> {
      const rows = await db.selectFrom('items').select('name').orderBy('id').execute()
      return rows.map((row) => row.name)
    },

    async find (name: string): Promise<Item | undefined> {
      return await db.selectFrom('items').select(columns).where('name', '=', name).executeTakeFirst()
    },

    async create (name: string, price: number): Promise<Item> {
      try {
        return await db.insertInto('items').values({ name, price }).returning(columns).executeTakeFirstOrThrow()
      } catch (error) {
        if (isUniqueViolation(error)) throw new ItemExists(name)
        throw error
      }
    },

    /** Updates the item or creates it. A concurrent insert or delete between the two steps sends it round again. */
    async put (name: string, price: number): Promise<{ item: Item, created: boolean }> {
      for (;;) {
        const updated = await update(name, price)
        if (updated !== undefined) return { item: updated, created: false }
        const inserted = await db.insertInto('items').values({ name, price })
          .onConflict((conflict) => conflict.column('name').doNothing())
          .returning(columns).executeTakeFirst()
        if (inserted !== undefined) return { item: inserted, created: true }
      }
    },

    async delete (name: string): Promise<boolean> {
      const result = await db.deleteFrom('items').where('name', '=', name).executeTakeFirst()
      return result.numDeletedRows > 0n
    }
  }
}

export type ItemsRepository = ReturnType<typeof itemsRepository>

declare module 'fastify' {
  interface FastifyInstance {
    items: ItemsRepository
  }
}

export default fp(async function items (fastify) {
  fastify.decorate('items', itemsRepository(fastify.db))
}, { name: 'items-repository', dependencies: ['database'] })
