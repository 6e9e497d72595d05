import type { ColumnType, Generated } from 'kysely'

export interface UsersTable {
  id: Generated<number>
  username: string
  password_hash: string
  created_at: number
  /** SQLite has no boolean type: it reads 0 or 1, PostgreSQL true or false. Written as 0 or 1, which both take. */
  is_admin: ColumnType<number | boolean, number | undefined, number>
  /** Bumped by a password change and before a deletion: a login issues tokens only if it is still the one it verified. */
  credential_version: ColumnType<number, number | undefined, number>
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

/** One login session; times in milliseconds since the epoch. */
export interface SessionsTable {
  id: string
  user_id: number
  created_at: number
  last_used_at: number
  expires_at: number
  user_agent: string | null
  address: string
}

export interface RefreshAnswersTable {
  key: string
  sealed: string
  /** Milliseconds since the epoch. */
  expires_at: number
}

/** Login and registration attempts per fixed window (src/accounts/attempt-store.ts), without Redis. */
export interface LoginAttemptsTable {
  key: string
  attempts: number
  in_flight: number
  expires_at: number
}

export interface Database {
  users: UsersTable
  items: ItemsTable
  revocations: RevocationsTable
  sessions: SessionsTable
  refresh_answers: RefreshAnswersTable
  login_attempts: LoginAttemptsTable
}
