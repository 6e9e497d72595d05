import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import SQLite from 'better-sqlite3'
import { Client } from 'pg'
import { cli } from './cli-process'
import { createPostgresDatabase, requirePostgres } from './postgres'
import { buildTestApp, decode, SECRET, signUp, tempDir, testDatabaseUrl, type DatabaseKind } from '.'

import type {} from 'tap'

type Test = tap.Test

// `gatehouse user import` from each kind of source: test/cli/user-import.test.ts (a Flask app's
// database) and user-import-jsonl.test.ts (JSON lines).

// Hashes made by Werkzeug's generate_password_hash (pbkdf2; scrypt in Werkzeug 3's format, by
// hashlib) and by Python's bcrypt, for the passwords next to them.
const PBKDF2 = 'pbkdf2:sha256:1000$LkKPowyvfnp4AZix$9bdb65a983451a4306e4754a3088a1828e99220ee5cfaf7df2cf51cdf1efd727'
const SCRYPT = 'scrypt:16384:8:1$Qm9zY3J5cHRTYWx0$f3dd37856e9cedf281638968854aba9aa4552290e99ad95718644551274620ed3a0ddaa2928fe29a901ff6d3c1eea08f1a1be4efc4925cacaf6f4bd6c4df4000'
const BCRYPT = '$2b$04$8f.Q8pe48RxruyTyCx9X7O8CuaaA9GCel5bUHE6Xop5jUBxxnxVHW'

// The seed's users table, as the Flask app left it: plain text (as the course stores them) and hashes.
const ROWS: Array<[number, string, string]> = [
  [2, 'jose', 'jose-plain-pass'],
  [3, 'anna', PBKDF2],
  [5, 'bob', BCRYPT],
  [7, 'Carol', 'carol-in-flask'], // the name of Gatehouse's own account
  [1, 'dave', 'dave-pass'], // the id of Gatehouse's own account
  [8, 'x', 'short-name'], // refused by the username rule
  [9, 'eve', SCRYPT],
  [10, 'Ｊｏｓｅ', 'twice'], // jose again, once canonical
  [12, 'frank', 'ab'] // a plain password shorter than new ones may be: hashed all the same
]
const PASSWORDS: Record<string, string> = { jose: 'jose-plain-pass', anna: 'jose-old-pass', bob: 'bob-old-pass', eve: 'anna-old-pass', frank: 'ab' }
const IMPORTED = [[2, 'jose'], [3, 'anna'], [5, 'bob'], [9, 'eve'], [12, 'frank']]

export type SourceKind = 'sqlite' | 'postgres' | 'jsonl'

async function makeSource (t: Test, kind: SourceKind): Promise<string> {
  if (kind === 'jsonl') {
    const path = join(tempDir(t), 'users.jsonl')
    writeFileSync(path, ROWS.map(([id, username, password]) => JSON.stringify({ id, username, password })).join('\n') + '\n\n{"not": "closed"\n')
    return path
  }
  if (kind === 'sqlite') {
    const path = join(tempDir(t), 'flask.db')
    const db = new SQLite(path)
    db.exec('create table users (id integer primary key, username text unique, password text)')
    const insert = db.prepare('insert into users (id, username, password) values (?, ?, ?)')
    for (const row of ROWS) insert.run(...row)
    db.close()
    return `sqlite:${path}`
  }
  const url = await createPostgresDatabase(t)
  const client = new Client({ connectionString: url })
  await client.connect()
  await client.query('create table accounts (id serial primary key, username text unique, password text)')
  for (const row of ROWS) await client.query('insert into accounts (id, username, password) values ($1, $2, $3)', row)
  await client.end()
  return url
}

/**
 * Imports the seed's users from a source of `sourceKind` into a Gatehouse database of kind
 * `database` that already has an account, and checks what came over, what was skipped and why, and
 * that the imported accounts log in with their old passwords.
 */
export async function importAndCheck (t: Test, database: DatabaseKind, sourceKind: SourceKind): Promise<void> {
  if ((database === 'postgres' || sourceKind === 'postgres') && !await requirePostgres(t)) return
  const databaseUrl = await testDatabaseUrl(t, database)
  const env = { DATABASE_URL: databaseUrl, JWT_SECRET_KEY: SECRET }
  const app = await buildTestApp(t, { databaseUrl })
  const carol = await signUp(app, 'carol', 'gatehouse carol pass')
  t.equal(carol.id, 1, 'Gatehouse already has an account 1')
  const source = await makeSource(t, sourceKind)
  const table = sourceKind === 'postgres' ? ['--table', 'accounts'] : []
  const expectedSkips = sourceKind === 'jsonl' ? 5 : 4

  const dry = await cli(env, ['user', 'import', '--from', source, ...table, '--dry-run', '--json'])
  t.equal(dry.code, 1, 'a dry run with skipped rows exits 1 too')
  const dryReport = JSON.parse(dry.stdout)
  t.equal(dryReport.dry_run, true)
  t.same(dryReport.imported.map((account: { id: number, username: string }) => [account.id, account.username]), IMPORTED)
  t.equal(dryReport.skipped.length, expectedSkips)
  t.equal(dryReport.next_id, 13)
  t.equal((await app.inject({ method: 'POST', url: '/login', payload: { username: 'jose', password: PASSWORDS.jose } })).statusCode, 401, 'the dry run changed nothing')
  t.equal((await cli(env, ['user', 'list', '--json'])).stdout.match(/"id"/g)?.length, 1, 'nor added any account')

  const run = await cli(env, ['user', 'import', '--from', source, ...table])
  t.equal(run.code, 1, `exit 1 when a row was skipped (${run.stderr})`)
  t.match(run.stdout, /^imported 5 account\(s\): 2 password\(s\) hashed with argon2id, 3 hash\(es\) kept until the next login/m)
  t.match(run.stdout, /skipped \S+ \S+ id 7 "Carol": the username "carol" is taken by an existing account/)
  t.match(run.stdout, /id 1 "dave": id 1 is taken by an existing account/)
  t.match(run.stdout, /id 8 "x": the username must have/)
  t.match(run.stdout, /id 10 "Ｊｏｓｅ": the username "jose" is taken by an earlier row of the source/)
  t.notMatch(run.stdout + run.stderr, /jose-plain-pass|old-pass|\$2b\$|pbkdf2:/, 'no password or hash is printed')
  t.match(run.stdout, /new accounts get ids from 13/)
  const audited = run.stderr.split('\n').filter((line) => line.includes('"user_imported"')).length
  t.equal(audited, 5, 'an audit line per imported account')

  for (const [id, username] of IMPORTED) {
    const password = PASSWORDS[username as string]
    const login = await app.inject({ method: 'POST', url: '/login', payload: { username, password } })
    t.equal(login.statusCode, 200, `${username as string} logs in with the old password`)
    t.equal(decode(login.json().access_token).sub, String(id), `${username as string} keeps id ${id as number}`)
    t.match((await app.users.findById(id as number))?.password_hash, /^\$argon2id\$/, `${username as string}'s password is argon2id now`)
  }
  for (const username of ['anna', 'eve']) {
    const password = PASSWORDS[username]
    t.equal((await app.inject({ method: 'POST', url: '/login', payload: { username, password } })).statusCode, 200, `${username} logs in again, on the new hash`)
    t.equal((await app.inject({ method: 'POST', url: '/login', payload: { username, password: `${password}x` } })).statusCode, 401, 'a wrong password fails')
  }
  t.equal((await app.inject({ method: 'POST', url: '/register', payload: { username: 'after', password: 'a long password' } })).json().id, 13, 'new accounts come after the imported ids')
  t.equal((await app.inject({ method: 'POST', url: '/login', payload: { username: 'carol', password: 'gatehouse carol pass' } })).statusCode, 200, 'carol is untouched')

  if (sourceKind === database) {
    const again = await cli(env, ['user', 'import', '--from', source, ...table, '--json'])
    t.equal(again.code, 1)
    t.same(JSON.parse(again.stdout).imported, [], 'a second run imports nothing and overwrites nothing')
  }
}
