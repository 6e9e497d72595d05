import fp from 'fastify-plugin'
import { isUniqueViolation, preparedQuery } from '../../src/db'
import { ItemExists } from '../../src/http'

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

  // The reads on the hot path, compiled once.
  const findByName = preparedQuery(db, (name: string) =>
    db.selectFrom('items').select(columns).where('name', '=', name), [''])
  const itemsAfter = preparedQuery(db, (after: number, limit: number) =>
    db.selectFrom('items').select(columns).where('id', '>', after).orderBy('id').limit(limit), [0, 1])
  const namesAfter = preparedQuery(db, (after: number, limit: number) =>
    db.selectFrom('items').select(['id', 'name']).where('id', '>', after).orderBy('id').limit(limit), [0, 1])

  return {
    /** Up to `limit` items with ids above `after`, by id: one page of the keyset pagination. */
    async page (after: number, limit: number): Promise<Item[]> {
      return await itemsAfter(after, limit)
    },

    async namesPage (after: number, limit: number): Promise<Array<{ id: number, name: string }>> {
      return await namesAfter(after, limit)
    },

    async find (name: string): Promise<Item | undefined> {
      return (await findByName(name))[0]
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
}, { name: 'gatehouse-items-repository', fastify: '5.x', dependencies: ['gatehouse-database'] })
