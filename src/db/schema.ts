import type { ColumnType, Generated } from 'kysely'

export interface UsersTable {
  id: Generated<number>
  username: string
  password_hash: string
  created_at: number
  /** SQLite has no boolean type: it reads 0 or 1, PostgreSQL true or false. Written as 0 or 1, which both take. */
  is_admin: ColumnType<number | boolean, number | undefined, number>
}

export interface ItemsTable {
  id: Generated<number>
  name: string
  price: number
}

export interface RevocationsTable {
  key: string
  value: number
  expires_at: number
}

export interface Database {
  users: UsersTable
  items: ItemsTable
  revocations: RevocationsTable
}
