import { Value } from '@sinclair/typebox/value'
import { userInfo } from 'node:os'
import { Migrator } from 'kysely'
import { isAdminAccount, auditCli, type AuditEvent, hashPassword, NEW_USERNAME_RULE, newAccountUsername } from '../accounts'
import { generateKeyPem, isAsymmetric, showKeys } from './keys'
import { environment, loadConfig, type Config, type DatabaseConfig } from '../config'
import { migrationProvider } from '../db'
import { nowSeconds } from '../revocation'
import { Credentials } from '../http'
import { newSecret, type AsymmetricAlgorithm } from '../tokens'
import { openStores, type Stores } from './stores'
import { printable } from './printable'
import { table } from './text-table'
import { CliError, usageError, type Invocation } from './usage'
import { readSource, SourceError, sourceKind } from './import-source'
import { importSummary, importUsers } from './user-import'

// The CLI's commands, on the service's stores; src/cli/main.ts has read the words and flags.

/**
 * Reads a line from the terminal without echoing it, through Inquirer's prompt: readline's line
 * editing (arrows, Home/End, deletion) edits the password rather than landing in it. The prompt
 * goes to stderr: stdout carries only the answer.
 */
async function promptHidden (message: string): Promise<string> {
  const { default: password } = await import('@inquirer/password')
  try {
    return await password({ message, mask: false }, { output: process.stderr, clearPromptOnDone: false })
  } catch (error) {
    if ((error as Error).name === 'ExitPromptError') throw new CliError('interrupted', 130)
    throw error
  }
}

/** The password of a new account: typed twice at a terminal, or the first line of piped input. */
async function readPassword (): Promise<string> {
  if (process.stdin.isTTY) {
    const password = await promptHidden('Password:')
    if (await promptHidden('Repeat it:') !== password) throw new CliError('the passwords differ')
    return password
  }
  const chunks: Buffer[] = []
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
  const password = Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0]
  if (password === '') throw new CliError('no password: type it at the prompt or give it on the first line of standard input')
  return password
}

async function findUser (stores: Stores, name: string) {
  const user = await stores.users.findByLoginName(name)
  if (user === undefined) throw new CliError(`no user named ${JSON.stringify(name)}`)
  return user
}

/** Revokes every token of the user issued until now, as POST /logout/all does. */
async function revokeEverySession (stores: Stores, config: Config, id: number): Promise<void> {
  await stores.revocation.revokeUser(String(id), Date.now(), nowSeconds() + config.refreshTokenExpires)
}

interface Context {
  stores: Stores
  config: Config
  /** The migrations that opening the stores applied. */
  applied: string[]
  /** Writes the audit line of a change made to an account, as the service's routes do. */
  audit: (event: AuditEvent, user: { id: number, username: string }) => void
}

/** What a command answers: the text for people, and the same facts for --json; a partial success exits 1. */
interface Answer { text: string, json?: unknown, exitCode?: number }

interface Command {
  /** Checks the words before anything is opened or asked (a bad name is refused before the password prompt). */
  check?: (positionals: string[], args: Invocation) => void
  /** Runs without the stores (nothing is opened). */
  alone?: (args: Invocation) => string
  run?: (context: Context, args: Invocation) => Promise<Answer>
}

function checkNewUsername (name: string): string {
  const username = Value.Check(Credentials.properties.username, name) ? newAccountUsername(name) : undefined
  if (username === undefined) throw new CliError(`the username ${NEW_USERNAME_RULE}, and no NUL`)
  return username
}

const commands: Record<string, Record<string, Command>> = {
  user: {
    create: {
      check ([name]) { checkNewUsername(name) },
      async run ({ stores, audit }, { positionals: [name], admin }) {
        const username = checkNewUsername(name)
        // Said before the password is asked for; the insert below still refuses a name taken meanwhile.
        if (await stores.users.findByUsername(username) !== undefined) throw new CliError(`user ${JSON.stringify(username)} already exists`)
        const password = await readPassword()
        // The rules of POST /register: its body schema on what was given.
        if (!Value.Check(Credentials.properties.password, password)) throw new CliError('the password must have 8 to 1024 characters')
        const id = await stores.users.create(username, await hashPassword(password), admin)
        audit('user_created', { id, username })
        if (admin) audit('admin_flag_set', { id, username })
        return { text: `created user ${username} (id ${id})${admin ? ', an admin' : ''}`, json: { id, username, is_admin: admin } }
      }
    },
    list: {
      async run ({ stores }) {
        const users = (await stores.users.list()).map((user) => ({
          id: user.id,
          username: user.username,
          is_admin: isAdminAccount(user),
          created_at: new Date(user.created_at).toISOString()
        }))
        const text = users.length === 0
          ? 'no users'
          : table([
            ['ID', 'USERNAME', 'ADMIN', 'CREATED'],
            ...users.map((user) => [String(user.id), printable(user.username), user.is_admin ? 'yes' : 'no', user.created_at])
          ])
        return { text, json: users }
      }
    },
    delete: {
      async run ({ stores, config, audit }, { positionals: [name] }) {
        const user = await findUser(stores, name)
        // As DELETE /user/:id does: the credential ends first, so logins in flight on a running
        // service issue nothing, then every token is revoked; if the store is down nothing is deleted.
        await stores.users.endCredential(user.id)
        await revokeEverySession(stores, config, user.id)
        await stores.users.delete(user.id)
        audit('user_deleted', user)
        return { text: `deleted user ${user.username} (id ${user.id}); its tokens are revoked`, json: { id: user.id, username: user.username, deleted: true } }
      }
    },
    'revoke-sessions': {
      async run ({ stores, config, audit }, { positionals: [name] }) {
        const user = await findUser(stores, name)
        const before = new Date()
        await revokeEverySession(stores, config, user.id)
        audit('sessions_revoked', user)
        return { text: `revoked every token of ${user.username} (id ${user.id})`, json: { id: user.id, username: user.username, revoked_before: before.toISOString() } }
      }
    },
    'set-admin': {
      check ([, setting]) {
        if (setting !== 'on' && setting !== 'off') throw usageError(`set-admin takes on or off, not ${JSON.stringify(setting)}`)
      },
      async run ({ stores, config, audit }, { positionals: [name, setting] }) {
        const user = await findUser(stores, name)
        const on = setting === 'on'
        await stores.users.setAdmin(user.id, on)
        audit(on ? 'admin_flag_set' : 'admin_flag_cleared', user)
        const json = { id: user.id, username: user.username, is_admin: on }
        if (on) return { text: `${user.username} is an admin (from its next login or refresh)`, json }
        if (!user.is_admin) return { text: `${user.username} was not an admin; nothing changed`, json }
        // Resource servers (gatehouse/resource-server) take admin rights from the token's is_admin
        // claim, without the database: every token saying so must stop. The cut-off is taken after
        // the flag is written, so a login or refresh that read the old flag made tokens it covers.
        await revokeEverySession(stores, config, user.id)
        audit('sessions_revoked', user)
        return { text: `${user.username} is no longer an admin: every session of it ended (its tokens stop everywhere at once)`, json }
      }
    },
    import: {
      check (_positionals, { from }) {
        if (from === undefined || sourceKind(from) === undefined) throw usageError('usage: gatehouse user import --from sqlite:<path>|postgres://…|<file>.jsonl [--table users] [--dry-run] [--json]')
      },
      async run ({ stores, config, audit }, { from, table: tableName, dryRun }) {
        let source
        try {
          source = await readSource(from as string, tableName)
        } catch (error) {
          if (error instanceof SourceError) throw new CliError(error.message)
          throw error
        }
        const report = await importUsers(stores, config.database.kind, source, dryRun, (account) => { audit('user_imported', account) })
        return { text: importSummary(report), json: report, exitCode: report.skipped.length > 0 ? 1 : 0 }
      }
    }
  },
  db: {
    migrate: { run: migrate }
  },
  secret: {
    generate: { alone: () => newSecret() }
  },
  keys: {
    generate: {
      check ([algorithm]) { if (!isAsymmetric(algorithm)) throw usageError('usage: gatehouse keys generate RS256|ES256|EdDSA') },
      alone: ({ positionals: [algorithm] }) => generateKeyPem(algorithm as AsymmetricAlgorithm)
    },
    show: { alone: ({ json }) => showKeys(loadConfig(environment()), json) }
  }
}

/** Opening the stores migrated the database, as every start of the service does: this reports it. */
async function migrate ({ stores, config, applied }: Context): Promise<Answer> {
  const migrations = await new Migrator({ db: stores.db, provider: migrationProvider(config.database.kind) }).getMigrations()
  const pending = migrations.filter((migration) => migration.executedAt === undefined).map((migration) => migration.name)
  if (pending.length > 0) throw new CliError(`migrations not applied: ${pending.join(', ')}`)
  return {
    text: `database schema up to date (${migrations.length} migrations); ` + (applied.length > 0 ? `applied now: ${applied.join(', ')}` : 'nothing to apply'),
    json: { migrations: migrations.map((migration) => migration.name), applied }
  }
}

/** Who ran the command, for the audit lines: the operating-system account, or its uid when it has no name. */
function osUser (): string {
  try {
    return userInfo().username
  } catch {
    return `uid ${process.getuid?.() ?? 'unknown'}`
  }
}

/** The database a command works on, for people: SQLite's absolute path, or the URL without its password. */
function databaseName (database: DatabaseConfig): string {
  if (database.kind === 'sqlite') return `SQLite ${database.path}`
  try {
    const url = new URL(database.url)
    url.password = ''
    return `PostgreSQL ${url.toString()}`
  } catch {
    return 'PostgreSQL (an unparsable URL)'
  }
}

/** Runs a command whose words and flags main.ts has checked. */
export async function execute (group: string, name: string, args: Invocation): Promise<{ output: string, exitCode: number }> {
  const command = commands[group][name]
  command.check?.(args.positionals, args)
  if (command.alone !== undefined) return { output: command.alone(args), exitCode: 0 }
  const job = command.run as NonNullable<Command['run']>

  const config = loadConfig(environment())
  process.stderr.write(`gatehouse: database ${databaseName(config.database)}\n`)
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
  const audit: Context['audit'] = (event, user) => { auditCli(stores.log, operator, event, { userId: user.id, username: printable(user.username) }) }
  try {
    const answer = await job({ stores, config, applied, audit }, args)
    return { output: args.json ? JSON.stringify(answer.json, null, 2) : answer.text, exitCode: answer.exitCode ?? 0 }
  } finally {
    await stores.close()
  }
}
