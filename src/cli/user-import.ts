import { Value } from '@sinclair/typebox/value'
import { sql } from 'kysely'
import { hashPassword, isLegacyHash, NEW_USERNAME_RULE, newAccountUsername } from '../accounts'
import { Credentials } from '../http'
import type { SourceRows } from './import-source'
import type { Stores } from './stores'

/** How an imported password is stored: hashed now (it was plain text) or kept until the next login. */
type PasswordHandling = 'hashed' | 'kept'

export interface ImportedAccount { id: number, username: string, password: PasswordHandling }
export interface SkippedRow { where: string, id?: unknown, username?: unknown, reason: string }

export interface ImportReport {
  dry_run: boolean
  imported: ImportedAccount[]
  skipped: SkippedRow[]
  /** The lowest id a new account can get after the import. */
  next_id: number
}

// argon2 hashes in PHC form (argon2-cffi, passlib): @node-rs/argon2 verifies them as they are.
const ARGON2_HASH = /^\$argon2(id|i|d)\$v=19\$m=\d+,t=\d+,p=\d+\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$/

/** A source id: a positive integer, or its decimal string (PostgreSQL's bigint arrives as one). */
function accountId (value: unknown): number | undefined {
  const id = typeof value === 'string' && /^[1-9][0-9]{0,15}$/.test(value) ? Number(value) : value
  return typeof id === 'number' && Number.isSafeInteger(id) && id >= 1 ? id : undefined
}

interface Planned { where: string, id: number, username: string, password: string, handling: PasswordHandling }

/**
 * Sorts the source's rows into what goes in and what is skipped, with the reason. Nothing is ever
 * overwritten: an id or a (canonical) username already in Gatehouse, or twice in the source, skips
 * the row. Usernames pass the rule of new accounts, the one `POST /register` applies.
 */
function plan (source: SourceRows, existing: Array<{ id: number, username: string }>): { planned: Planned[], skipped: SkippedRow[] } {
  const skipped: SkippedRow[] = source.unreadable.map(({ where, reason }) => ({ where, reason }))
  const planned: Planned[] = []
  const ids = new Map(existing.map((user) => [user.id, 'an existing account']))
  const names = new Map(existing.map((user) => [user.username, 'an existing account']))
  for (const { where, id: rawId, username: rawName, password } of source.rows) {
    const skip = (reason: string): void => { skipped.push({ where, id: rawId, username: rawName, reason }) }
    const id = accountId(rawId)
    if (id === undefined) { skip('the id is not a positive integer'); continue }
    const username = typeof rawName === 'string' && Value.Check(Credentials.properties.username, rawName) ? newAccountUsername(rawName) : undefined
    if (username === undefined) { skip(`the username ${NEW_USERNAME_RULE}, and no NUL`); continue }
    if (typeof password !== 'string' || password === '') { skip('no password'); continue }
    const idOwner = ids.get(id)
    if (idOwner !== undefined) { skip(`id ${id} is taken by ${idOwner}`); continue }
    const nameOwner = names.get(username)
    if (nameOwner !== undefined) { skip(`the username ${JSON.stringify(username)} is taken by ${nameOwner}`); continue }
    ids.set(id, `an earlier row of the source (${where})`)
    names.set(username, `an earlier row of the source (${where})`)
    planned.push({ where, id, username, password, handling: isLegacyHash(password) || ARGON2_HASH.test(password) ? 'kept' : 'hashed' })
  }
  return { planned, skipped }
}

/**
 * Moves the id sequence to at least `maxId`, never back (a deleted account's id is never handed
 * out again). Done before the rows go in, so an account registered meanwhile gets an id above them.
 */
async function moveSequencePast (stores: Stores, kind: 'sqlite' | 'postgres', maxId: number): Promise<void> {
  if (kind === 'postgres') {
    await sql`select setval(seq, ${maxId}) from (select pg_get_serial_sequence('users', 'id')::regclass as seq) s
      where ${maxId} > coalesce(pg_sequence_last_value(seq), 0)`.execute(stores.db)
    return
  }
  // AUTOINCREMENT keeps the highest id ever used in sqlite_sequence.
  await sql`insert into sqlite_sequence (name, seq) select 'users', 0 where not exists (select 1 from sqlite_sequence where name = 'users')`.execute(stores.db)
  await sql`update sqlite_sequence set seq = max(seq, ${maxId}) where name = 'users'`.execute(stores.db)
}

async function nextId (stores: Stores, kind: 'sqlite' | 'postgres'): Promise<number> {
  const row = kind === 'postgres'
    ? (await sql<{ next: string }>`select coalesce(pg_sequence_last_value(pg_get_serial_sequence('users', 'id')::regclass), 0) + 1 as next`.execute(stores.db)).rows[0]
    : (await sql<{ next: number }>`select coalesce((select seq from sqlite_sequence where name = 'users'), 0) + 1 as next`.execute(stores.db)).rows[0]
  const maxRow = await stores.db.selectFrom('users').select((eb) => eb.fn.max('id').as('max')).executeTakeFirst()
  return Math.max(Number(row.next), Number(maxRow?.max ?? 0) + 1)
}

/**
 * Brings a Flask app's accounts over with their ids (`gatehouse user import`). Plain-text passwords
 * are hashed with argon2id whatever their length; Werkzeug, bcrypt and argon2 hashes are kept and
 * replaced at the next login. Each row goes in only where neither its id nor its username is taken
 * at that moment (ON CONFLICT DO NOTHING), so an account created while the import runs is never
 * overwritten either.
 */
export async function importUsers (stores: Stores, kind: 'sqlite' | 'postgres', source: SourceRows, dryRun: boolean,
  onImported: (account: ImportedAccount) => void): Promise<ImportReport> {
  const { planned, skipped } = plan(source, await stores.users.list())
  const maxId = Math.max(0, ...planned.map((row) => row.id))
  if (dryRun) {
    const next = Math.max(await nextId(stores, kind), maxId + 1)
    return { dry_run: true, imported: planned.map(({ id, username, handling }) => ({ id, username, password: handling })), skipped, next_id: next }
  }
  if (planned.length > 0) await moveSequencePast(stores, kind, maxId)
  const imported: ImportedAccount[] = []
  for (const row of planned) {
    const passwordHash = row.handling === 'hashed' ? await hashPassword(row.password) : row.password
    const inserted = await stores.db.insertInto('users')
      .values({ id: row.id, username: row.username, password_hash: passwordHash, created_at: Date.now(), is_admin: 0 })
      .onConflict((conflict) => conflict.doNothing())
      .returning('id')
      .executeTakeFirst()
    if (inserted === undefined) {
      skipped.push({ where: row.where, id: row.id, username: row.username, reason: 'its id or username was taken while the import ran' })
      continue
    }
    const account = { id: row.id, username: row.username, password: row.handling }
    imported.push(account)
    onImported(account)
  }
  return { dry_run: false, imported, skipped, next_id: await nextId(stores, kind) }
}

/** The report for a terminal: what went in, each skipped row and why, where new ids start. */
export function importSummary (report: ImportReport): string {
  const kept = report.imported.filter((account) => account.password === 'kept').length
  const lines = [
    `${report.dry_run ? 'would import' : 'imported'} ${report.imported.length} account(s): ` +
      `${report.imported.length - kept} password(s) hashed with argon2id, ${kept} hash(es) kept until the next login`,
    ...report.imported.map((account) => `  id ${account.id} ${account.username} (password ${account.password})`),
    ...report.skipped.map((row) => `skipped ${row.where}` +
      `${row.id === undefined ? '' : ` id ${JSON.stringify(row.id)}`}${row.username === undefined ? '' : ` ${JSON.stringify(row.username)}`}: ${row.reason}`),
    `new accounts get ids from ${report.next_id}`
  ]
  if (report.dry_run) lines.push('dry run: nothing was changed')
  return lines.join('\n')
}
