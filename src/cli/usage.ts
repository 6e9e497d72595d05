import { parseArgs } from 'node:util'

// What the CLI's commands take, and the checks on their words that need nothing loaded: bin/main
// answers usage mistakes, --help and --version without loading the stores (a second or more on a
// busy machine).

export const USAGE = `Usage: gatehouse <command> [options]   (or: npm run -s cli -- <command> [options])

  user create <name> [--admin] [--json]   create an account; the password is read from a hidden
                                          prompt, or from the first line of standard input when
                                          it is not a terminal
  user list [--json]                      every account
  user delete <name> [--json]             revoke every token of the account, then delete it
  user revoke-sessions <name> [--json]    revoke every token of the account (as POST /logout/all)
  user set-admin <name> on|off [--json]   set or clear the account's admin flag
  user import --from SOURCE [--table users] [--dry-run] [--json]
                                          bring a Flask app's accounts over with their ids: SOURCE
                                          is sqlite:<path>, postgres://… (its table of id,
                                          username, password) or a .jsonl file of {id, username,
                                          password} lines; taken ids or names are skipped and
                                          reported (exit status 1)
  db migrate [--json]                     bring the database schema up to date
  secret generate                         print a new JWT_SECRET_KEY
  keys generate <algorithm>               print a new private key (PEM) for RS256, ES256 or EdDSA
  keys show [--json]                      the signing keys as the service would load them now: each
                                          key's state (published, signing, retired, expired), times

  --json         the answer as JSON on standard output (docs/operations.md describes each)
  -h, --help     this text;   -V, --version   Gatehouse's version

Works on the database and Redis the environment (and a .env file in the current directory)
configures, as the service does; without DATABASE_URL, SQLite in DATA_DIR (the data/ folder of the
installation). Each command that opens the database names it on standard error.
Exit status: 0 done, 1 failed (the message says why), 2 wrong usage.`

/** A failure to report in one line, with its exit status. */
export class CliError extends Error {
  constructor (message: string, readonly exitCode = 1) {
    super(message)
  }
}

export const usageError = (message: string): CliError => new CliError(`${message}\n(gatehouse --help tells the commands)`, 2)

export interface Invocation {
  positionals: string[]
  json: boolean
  admin: boolean
  from?: string
  table: string
  dryRun: boolean
}

export type Flag = 'json' | 'admin' | 'from' | 'table' | 'dry-run'
const VALUE_FLAGS: ReadonlySet<Flag> = new Set(['from', 'table'])

export interface CommandSpec {
  usage: string
  /** How many words follow the command's name. */
  arity: number
  /** The flags it takes, beside --help; any other is refused. */
  flags: Flag[]
}

export const COMMANDS: Record<string, Record<string, CommandSpec>> = {
  user: {
    create: { usage: 'user create <name> [--admin] [--json]', arity: 1, flags: ['admin', 'json'] },
    list: { usage: 'user list [--json]', arity: 0, flags: ['json'] },
    delete: { usage: 'user delete <name> [--json]', arity: 1, flags: ['json'] },
    'revoke-sessions': { usage: 'user revoke-sessions <name> [--json]', arity: 1, flags: ['json'] },
    'set-admin': { usage: 'user set-admin <name> on|off [--json]', arity: 2, flags: ['json'] },
    import: { usage: 'user import --from SOURCE [--table users] [--dry-run] [--json]', arity: 0, flags: ['from', 'table', 'dry-run', 'json'] }
  },
  db: {
    migrate: { usage: 'db migrate [--json]', arity: 0, flags: ['json'] }
  },
  secret: {
    generate: { usage: 'secret generate', arity: 0, flags: [] }
  },
  keys: {
    generate: { usage: 'keys generate RS256|ES256|EdDSA', arity: 1, flags: [] },
    show: { usage: 'keys show [--json]', arity: 0, flags: ['json'] }
  }
}

export const groupUsage = (group: string): string =>
  `Usage:\n${Object.values(COMMANDS[group]).map((command) => `  gatehouse ${command.usage}`).join('\n')}`

/** Reads the options a command takes, refusing any other. */
export function parse (argv: string[], flags: Flag[], usage?: string): Invocation & { help: boolean } {
  try {
    const options: Record<string, { type: 'boolean' | 'string', short?: string }> = { help: { type: 'boolean', short: 'h' } }
    for (const flag of flags) options[flag] = { type: VALUE_FLAGS.has(flag) ? 'string' : 'boolean' }
    const { values, positionals } = parseArgs({ args: argv, options, allowPositionals: true, strict: true })
    return {
      positionals,
      json: values.json === true,
      admin: values.admin === true,
      from: typeof values.from === 'string' ? values.from : undefined,
      table: typeof values.table === 'string' ? values.table : 'users',
      dryRun: values['dry-run'] === true,
      help: values.help === true
    }
  } catch (error) {
    const hint = argv.some((arg) => arg.startsWith('--pass')) ? ' (a password is never an argument: it would stay in shell history and ps)' : ''
    const unknown = /^Unknown option '([^']+)'/.exec((error as Error).message)
    const what = unknown === null ? (error as Error).message : `unknown option ${unknown[1]}`
    throw usageError(`${what}${hint}${usage === undefined ? '' : `; usage: gatehouse ${usage}`}`)
  }
}
