#!/usr/bin/env node
import { Value } from '@sinclair/typebox/value'
import { userInfo } from 'node:os'
import { parseArgs } from 'node:util'
import { Migrator } from 'kysely'
import { isAdminAccount, auditCli, type AuditEvent, hashPassword, canonicalUsername, NEW_USERNAME_RULE, newAccountUsername } from '../accounts'
import { generateKeyPem, isAsymmetric, showKeys } from './keys'
import { ConfigError, loadConfig, type Config } from '../config'
import { migrationProvider } from '../db'
import { nowSeconds } from '../revocation'
import { Credentials } from '../http'
import { newSecret } from '../tokens'
import { openStores, type Stores } from './stores'
import { table } from './text-table'
import { readSource, SourceError, sourceKind } from './import-source'
import { importSummary, importUsers } from './user-import'

const USAGE = `Usage: gatehouse <command> [options]   (or: npm run -s cli -- <command> [options])

  user create <name> [--admin]      create an account; the password is read from a prompt, or from
                                    the first line of standard input when it is not a terminal
  user list [--json]                every account
  user delete <name>                revoke every token of the account, then delete it
  user revoke-sessions <name>       revoke every token of the account (as POST /logout/all)
  user set-admin <name> on|off      set or clear the account's admin flag
  user import --from SOURCE [--table users] [--dry-run] [--json]
                                    bring a Flask app's accounts over with their ids: SOURCE is
                                    sqlite:<path>, postgres://… (its table of id, username,
                                    password) or a .jsonl file of {id, username, password} lines;
                                    taken ids or names are skipped and reported (exit status 1)
  db migrate                        bring the database schema up to date
  secret generate                   print a new JWT_SECRET_KEY
  keys generate <algorithm>         print a new private key (PEM) for RS256, ES256 or EdDSA
  keys show [--json]                the signing keys as the service would load them now: each key's
                                    state (published, signing, retired, expired) and its times

Works on the database and Redis the environment configures (DATABASE_URL, REDIS_URL…), as the
service does. Exit status: 0 done, 1 failed (the message says why), 2 wrong usage.`

/** A failure to report in one line, with its exit status. */
class CliError extends Error {
  constructor (message: string, readonly exitCode = 1) {
    super(message)
  }
}

const usageError = (message: string): CliError => new CliError(`${message}\n(gatehouse --help tells the commands)`, 2)

interface Invocation {
  positionals: string[]
  json: boolean
  admin: boolean
  from?: string
  table: string
  dryRun: boolean
}

/** Reads a line from the terminal without echoing it. */
async function promptHidden (prompt: string): Promise<string> {
  const stdin = process.stdin
  process.stderr.write(prompt)
  stdin.setRawMode(true)
  stdin.setEncoding('utf8')
  stdin.resume()
  return await new Promise((resolve, reject) => {
    let value = ''
    function finish (): void {
      stdin.off('data', onData)
      stdin.setRawMode(false)
      stdin.pause()
      process.stderr.write('\n')
    }
    function onData (chunk: string): void {
      for (const char of chunk) {
        if (char === '\r' || char === '\n' || char === '\u0004') {
          finish()
          resolve(value)
          return
        }
        if (char === '\u0003') {
          finish()
          reject(new CliError('interrupted', 130))
          return
        }
        if (char === '\u007f' || char === '\b') value = Array.from(value).slice(0, -1).join('')
        else value += char
      }
    }
    stdin.on('data', onData)
  })
}

/** The password of a new account: typed twice at a terminal, or the first line of piped input. */
async function readPassword (): Promise<string> {
  if (process.stdin.isTTY) {
    const password = await promptHidden('Password: ')
    if (await promptHidden('Repeat it: ') !== password) throw new CliError('the passwords differ')
    return password
  }
  const chunks: Buffer[] = []
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
  const password = Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0]
  if (password === '') throw new CliError('no password: type it at the prompt or give it on the first line of standard input')
  return password
}

async function findUser (stores: Stores, name: string) {
  const user = await stores.users.findByUsername(canonicalUsername(name))
  if (user === undefined) throw new CliError(`no user named ${JSON.stringify(name)}`)
  return user
}

/** Revokes every token of the user issued until now, as POST /logout/all does. */
async function revokeEverySession (stores: Stores, config: Config, id: number): Promise<void> {
  await stores.revocation.revokeUser(String(id), Date.now(), nowSeconds() + config.refreshTokenExpires)
}

function adminVia (user: { username: string, is_admin: boolean }, config: Config): string[] {
  return [...(user.is_admin ? ['flag'] : []), ...(config.adminUsernames.has(user.username) ? ['ADMIN_USERNAMES'] : [])]
}

interface Context {
  stores: Stores
  config: Config
  /** The migrations that opening the stores applied. */
  applied: string[]
  /** Writes the audit line of a change made to an account, as the service's routes do. */
  audit: (event: AuditEvent, user: { id: number, username: string }) => void
}

/** The output, or the output with an exit status other than 0 (a partial success). */
type Command = (context: Context, args: Invocation) => Promise<string | { output: string, exitCode: number }>

const userCommands: Record<string, { usage: string, arity: number, run: Command }> = {
  create: {
    usage: 'user create <name> [--admin]',
    arity: 1,
    async run ({ stores, audit }, { positionals: [name], admin }) {
      const password = await readPassword()
      // The rules of POST /register: its body schema on what was given, the length on the canonical name.
      if (!Value.Check(Credentials.properties.password, password)) throw new CliError('the password must have 8 to 1024 characters')
      const username = Value.Check(Credentials.properties.username, name) ? newAccountUsername(name) : undefined
      if (username === undefined) throw new CliError(`the username ${NEW_USERNAME_RULE}, and no NUL`)
      const id = await stores.users.create(username, await hashPassword(password), admin)
      audit('user_created', { id, username })
      if (admin) audit('admin_flag_set', { id, username })
      return `created user ${username} (id ${id})${admin ? ', an admin' : ''}`
    }
  },
  list: {
    usage: 'user list [--json]',
    arity: 0,
    async run ({ stores, config }, { json }) {
      const users = (await stores.users.list()).map((user) => ({
        id: user.id,
        username: user.username,
        is_admin: isAdminAccount(user, config.adminUsernames),
        admin_via: adminVia(user, config),
        created_at: new Date(user.created_at).toISOString()
      }))
      if (json) return JSON.stringify(users, null, 2)
      if (users.length === 0) return 'no users'
      return table([
        ['ID', 'USERNAME', 'ADMIN', 'CREATED'],
        ...users.map((user) => [String(user.id), user.username, user.is_admin ? `yes (${user.admin_via.join(', ')})` : 'no', user.created_at])
      ])
    }
  },
  delete: {
    usage: 'user delete <name>',
    arity: 1,
    async run ({ stores, config, audit }, { positionals: [name] }) {
      const user = await findUser(stores, name)
      // Revoke first, as DELETE /user/:id does: if the store is down nothing is deleted.
      await revokeEverySession(stores, config, user.id)
      await stores.users.delete(user.id)
      audit('user_deleted', user)
      return `deleted user ${user.username} (id ${user.id}); its tokens are revoked`
    }
  },
  'revoke-sessions': {
    usage: 'user revoke-sessions <name>',
    arity: 1,
    async run ({ stores, config, audit }, { positionals: [name] }) {
      const user = await findUser(stores, name)
      await revokeEverySession(stores, config, user.id)
      audit('sessions_revoked', user)
      return `revoked every token of ${user.username} (id ${user.id})`
    }
  },
  'set-admin': {
    usage: 'user set-admin <name> on|off',
    arity: 2,
    async run ({ stores, config, audit }, { positionals: [name, setting] }) {
      if (setting !== 'on' && setting !== 'off') throw usageError(`set-admin takes on or off, not ${JSON.stringify(setting)}`)
      const user = await findUser(stores, name)
      await stores.users.setAdmin(user.id, setting === 'on')
      audit(setting === 'on' ? 'admin_flag_set' : 'admin_flag_cleared', user)
      if (setting === 'on') return `${user.username} is an admin (from its next login or refresh)`
      if (config.adminUsernames.has(user.username)) {
        return `${user.username}'s admin flag is cleared, but it stays an admin: ADMIN_USERNAMES names it`
      }
      return `${user.username} is no longer an admin (at once, even with tokens that say otherwise)`
    }
  },
  import: {
    usage: 'user import --from SOURCE [--table users] [--dry-run] [--json]',
    arity: 0,
    async run ({ stores, config, audit }, { from, table: tableName, dryRun, json }) {
      if (from === undefined || sourceKind(from) === undefined) throw usageError('usage: gatehouse user import --from sqlite:<path>|postgres://…|<file>.jsonl [--table users] [--dry-run] [--json]')
      let source
      try {
        source = await readSource(from, tableName)
      } catch (error) {
        if (error instanceof SourceError) throw new CliError(error.message)
        throw error
      }
      const report = await importUsers(stores, config.database.kind, source, dryRun, (account) => { audit('user_imported', account) })
      const output = json ? JSON.stringify(report, null, 2) : importSummary(report)
      return report.skipped.length > 0 ? { output, exitCode: 1 } : output
    }
  }
}

/** Opening the stores migrated the database, as every start of the service does: this reports it. */
async function migrate ({ stores, config, applied }: Context): Promise<string> {
  const migrations = await new Migrator({ db: stores.db, provider: migrationProvider(config.database.kind) }).getMigrations()
  const pending = migrations.filter((migration) => migration.executedAt === undefined).map((migration) => migration.name)
  if (pending.length > 0) throw new CliError(`migrations not applied: ${pending.join(', ')}`)
  return `database schema up to date (${migrations.length} migrations); ` +
    (applied.length > 0 ? `applied now: ${applied.join(', ')}` : 'nothing to apply')
}

/** Who ran the command, for the audit lines: the operating-system account, or its uid when it has no name. */
function osUser (): string {
  try {
    return userInfo().username
  } catch {
    return `uid ${process.getuid?.() ?? 'unknown'}`
  }
}

function parse (argv: string[]): Invocation {
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      options: {
        json: { type: 'boolean', default: false },
        admin: { type: 'boolean', default: false },
        from: { type: 'string' },
        table: { type: 'string', default: 'users' },
        'dry-run': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false }
      },
      allowPositionals: true
    })
    if (values.help) throw new CliError(USAGE, 0)
    return { positionals, json: values.json, admin: values.admin, from: values.from, table: values.table, dryRun: values['dry-run'] }
  } catch (error) {
    if (error instanceof CliError) throw error
    const hint = argv.some((arg) => arg.startsWith('--pass')) ? ' (a password is never an argument: it would stay in shell history and ps)' : ''
    throw usageError(`${(error as Error).message}${hint}`)
  }
}

async function run (argv: string[]): Promise<string | { output: string, exitCode: number }> {
  const args = parse(argv)
  const [group, command, ...rest] = args.positionals
  if (group === 'secret' && command === 'generate' && rest.length === 0) return newSecret()
  if (group === 'keys' && command === 'generate') {
    if (rest.length !== 1 || !isAsymmetric(rest[0])) throw usageError('usage: gatehouse keys generate RS256|ES256|EdDSA')
    return generateKeyPem(rest[0])
  }
  if (group === 'keys' && command === 'show') {
    if (rest.length !== 0) throw usageError('usage: gatehouse keys show [--json]')
    return showKeys(loadConfig(process.env), args.json)
  }
  if (group === 'help') throw new CliError(USAGE, 0)
  if (group === undefined) throw new CliError(USAGE, 2)

  let job: Command
  if (group === 'db' && command === 'migrate' && rest.length === 0) {
    job = migrate
  } else if (group === 'user' && command in userCommands) {
    const { usage, arity, run } = userCommands[command]
    if (rest.length !== arity) {
      const hint = command === 'create' && rest.length > arity ? ' (a password is never an argument: it is read from a prompt or standard input)' : ''
      throw usageError(`usage: gatehouse ${usage}${hint}`)
    }
    job = run
  } else {
    throw usageError(`unknown command: ${args.positionals.join(' ')}`)
  }

  const config = loadConfig(process.env)
  // stdout carries only the answer. The audit lines, and the stores' warnings and errors, go to
  // stderr as JSON lines; the database plugin's reports of the migrations it applied are kept for
  // `db migrate`.
  const applied: string[] = []
  const stream = {
    write (line: string): void {
      const record = JSON.parse(line) as { level: number, msg?: string, migration?: string, audit?: boolean }
      if (record.msg === 'migration applied' && record.migration !== undefined) applied.push(record.migration)
      else if (record.level >= 40 || record.audit === true) process.stderr.write(line)
    }
  }
  const stores = await openStores(config, { level: 'info', stream })
  const operator = osUser()
  const audit: Context['audit'] = (event, user) => { auditCli(stores.log, operator, event, { userId: user.id, username: user.username }) }
  try {
    return await job({ stores, config, applied, audit }, { ...args, positionals: rest })
  } finally {
    await stores.close()
  }
}

run(process.argv.slice(2)).then((result) => {
  const { output, exitCode } = typeof result === 'string' ? { output: result, exitCode: 0 } : result
  process.stdout.write(output + '\n')
  process.exitCode = exitCode
}, (error: unknown) => {
  if (error instanceof CliError) {
    if (error.exitCode === 0) process.stdout.write(error.message + '\n')
    else process.stderr.write(error.message === USAGE ? USAGE + '\n' : `gatehouse: ${error.message}\n`)
    process.exitCode = error.exitCode
  } else if (error instanceof ConfigError) {
    process.stderr.write(`gatehouse: ${error.message}\n`)
    process.exitCode = 1
  } else {
    process.stderr.write(`gatehouse: ${error instanceof Error ? error.message : String(error)}\n`)
    process.exitCode = 1
  }
})
