import { readFile } from 'node:fs/promises'
import SQLite from 'better-sqlite3'
import { Client } from 'pg'

/** One account as the Flask app stored it, unchecked: the seed's `users` table (id, username, password). */
export interface SourceRow {
  /** Where it came from, for the report: `line 3` of a .jsonl file, `row 3` of a table. */
  where: string
  id: unknown
  username: unknown
  password: unknown
}

/** A row the source itself could not give as an object; reported and skipped. */
export interface UnreadableRow { where: string, reason: string }

export interface SourceRows { rows: SourceRow[], unreadable: UnreadableRow[] }

const TABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/

export class SourceError extends Error {}

/** What --from names: a .jsonl file (by its extension), sqlite:<path>, or postgres://… */
export function sourceKind (source: string): 'jsonl' | 'sqlite' | 'postgres' | undefined {
  if (source.endsWith('.jsonl')) return 'jsonl'
  if (source.startsWith('sqlite:') && source.length > 'sqlite:'.length) return 'sqlite'
  if (/^postgres(ql)?:\/\/./.test(source)) return 'postgres'
  return undefined
}

async function readJsonl (path: string): Promise<SourceRows> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (error) {
    throw new SourceError(`cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`)
  }
  const rows: SourceRow[] = []
  const unreadable: UnreadableRow[] = []
  text.split(/\r?\n/).forEach((line, index) => {
    const where = `line ${index + 1}`
    if (line.trim() === '') return
    let value: unknown
    try {
      value = JSON.parse(line)
    } catch {
      unreadable.push({ where, reason: 'not JSON' })
      return
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      unreadable.push({ where, reason: 'not a JSON object' })
      return
    }
    const { id, username, password } = value as Record<string, unknown>
    rows.push({ where, id, username, password })
  })
  return { rows, unreadable }
}

function readSqlite (path: string, table: string): SourceRows {
  let connection: SQLite.Database
  try {
    connection = new SQLite(path, { readonly: true, fileMustExist: true })
  } catch (error) {
    throw new SourceError(`cannot open the SQLite database ${path}: ${(error as Error).message}`)
  }
  try {
    const found = connection.prepare(`select id, username, password from "${table}" order by id`).all() as Array<Record<string, unknown>>
    return { rows: found.map((row, index) => ({ where: `row ${index + 1}`, id: row.id, username: row.username, password: row.password })), unreadable: [] }
  } catch (error) {
    throw new SourceError(`cannot read table ${table} (id, username, password): ${(error as Error).message}`)
  } finally {
    connection.close()
  }
}

async function readPostgres (url: string, table: string): Promise<SourceRows> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 5000 })
  client.on('error', () => {})
  try {
    await client.connect()
    const result = await client.query(`select id, username, password from "${table}" order by id`)
    return { rows: result.rows.map((row: Record<string, unknown>, index) => ({ where: `row ${index + 1}`, id: row.id, username: row.username, password: row.password })), unreadable: [] }
  } catch (error) {
    // The message of pg never carries the URL's password.
    throw new SourceError(`cannot read table ${table} (id, username, password) of the PostgreSQL source: ${(error as Error).message}`)
  } finally {
    await client.end().catch(() => {})
  }
}

/** Every row of the source, read only: the Flask app's database is never written. */
export async function readSource (source: string, table: string): Promise<SourceRows> {
  if (!TABLE_NAME.test(table)) throw new SourceError(`--table must be a plain table name, not ${JSON.stringify(table)}`)
  switch (sourceKind(source)) {
    case 'jsonl': return await readJsonl(source)
    case 'sqlite': return readSqlite(source.slice('sqlite:'.length), table)
    case 'postgres': return await readPostgres(source, table)
    default: throw new SourceError('--from takes sqlite:<path>, postgres://… or a .jsonl file')
  }
}
