import type { Generated } from 'kysely'

export interface UsersTable {
  id: Generated<number>
  username: string
  password_hash: string
  created_at: number
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
