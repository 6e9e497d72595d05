import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import autocannon from 'autocannon'

export interface TargetOptions {
  /** The deployment's base URL, nginx in front of the instances as clients reach them. */
  url: string
  /** Requests per second over all connections (0: as fast as the deployment answers). */
  rate: number
  duration: number
  connections: number
  /** Accounts to create on the target with /register, one per connection at most. */
  accounts: number
  /** Or accounts that exist there already: a file of `username:password` lines. */
  accountFile?: string
}

interface Account { username: string, password: string }

interface Session {
  account?: Account
  access?: string
  refresh?: string
}

const PASSWORD_BYTES = 12
const json = { 'content-type': 'application/json' }

async function createAccounts (url: string, count: number): Promise<Account[]> {
  const run = randomBytes(3).toString('hex')
  const accounts: Account[] = []
  for (let i = 0; i < count; i++) {
    const account = { username: `bench_${run}_${i}`, password: randomBytes(PASSWORD_BYTES).toString('base64url') }
    const response = await fetch(`${url}/register`, { method: 'POST', headers: json, body: JSON.stringify(account) })
    if (response.status !== 201) {
      throw new Error(`registering ${account.username} on ${url}: ${response.status} ${await response.text()} (give existing accounts with --account-file)`)
    }
    accounts.push(account)
  }
  return accounts
}

function readAccounts (file: string): Account[] {
  return readFileSync(file, 'utf8').split('\n').filter((line) => line.includes(':')).map((line) => {
    const colon = line.indexOf(':')
    return { username: line.slice(0, colon), password: line.slice(colon + 1) }
  })
}

/**
 * A realistic mix against a deployment, for sizing: each connection plays a user who logs in, reads
 * items, refreshes (rotating its refresh token), reads again and logs out, over and over, at the
 * chosen overall rate. Reports what the clients saw; the deployment's CPU is measured on its hosts.
 */
export async function runAgainstTarget (options: TargetOptions): Promise<void> {
  const url = options.url.replace(/\/$/, '')
  const accounts = options.accountFile !== undefined ? readAccounts(options.accountFile) : await createAccounts(url, options.accounts)
  if (accounts.length === 0) throw new Error('no accounts to log in with')
  let next = 0
  const bearer = (token: string | undefined): Record<string, string> => ({ authorization: `Bearer ${token ?? ''}` })
  const remember = (body: string, session: Session): void => {
    try {
      const tokens = JSON.parse(body) as { access_token?: string, refresh_token?: string }
      if (tokens.access_token !== undefined) session.access = tokens.access_token
      if (tokens.refresh_token !== undefined) session.refresh = tokens.refresh_token
    } catch {}
  }
  const read = { method: 'GET' as const, path: '/items?limit=20', setupRequest: (request: any, session: Session) => ({ ...request, headers: bearer(session.access) }) }
  const requests: autocannon.Request[] = [
    {
      method: 'POST',
      path: '/login',
      setupRequest: (request: any, session: Session) => {
        session.account ??= accounts[next++ % accounts.length]
        return { ...request, headers: json, body: JSON.stringify(session.account) }
      },
      onResponse: (_status: number, body: string, session: Session) => { remember(body, session) }
    } as autocannon.Request,
    read, read, read, read,
    {
      method: 'POST',
      path: '/refresh',
      setupRequest: (request: any, session: Session) => ({ ...request, headers: bearer(session.refresh) }),
      onResponse: (_status: number, body: string, session: Session) => { remember(body, session) }
    } as autocannon.Request,
    read, read, read, read,
    { method: 'POST', path: '/logout', setupRequest: (request: any, session: Session) => ({ ...request, headers: bearer(session.access) }) } as autocannon.Request
  ]
  console.error(`${url}: ${options.connections} connections, ${accounts.length} accounts, ${options.rate > 0 ? `${options.rate} req/s` : 'unbounded rate'}, ${options.duration} s; per user: login, 4 reads, refresh, 4 reads, logout`)
  const result = await autocannon({
    url,
    connections: options.connections,
    duration: options.duration,
    ...(options.rate > 0 ? { overallRate: options.rate } : {}),
    requests
  })
  const statuses = Object.fromEntries(Object.entries(result.statusCodeStats ?? {}).map(([code, { count }]) => [code, count]))
  console.log(JSON.stringify({
    target: url,
    rps: Math.round(result.requests.average),
    requests: result.requests.total,
    latency_ms: { p50: result.latency.p50, p97_5: result.latency.p97_5, p99: result.latency.p99, max: result.latency.max },
    statuses,
    errors: result.errors,
    timeouts: result.timeouts
  }, null, 2))
}
