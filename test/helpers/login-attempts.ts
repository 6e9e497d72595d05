import { randomUUID } from 'node:crypto'
import type { App } from '../../src/app'
import { buildTestApp, testDatabaseUrl, type StoreKind } from '.'

import type {} from 'tap'

type Test = tap.Test

/** One audit event's count in an app's /metrics (gatehouse_security_events_total). */
export async function securityEventCount (app: App, event: string): Promise<number> {
  const body = (await app.inject({ method: 'GET', url: '/metrics' })).body
  const match = new RegExp(`^gatehouse_security_events_total\\{event="${event}"\\} (\\d+)$`, 'm').exec(body)
  return match === null ? 0 : Number(match[1])
}

/** Password hashes the apps computed for logins: every hashed login ends as login_failed or login_succeeded. */
export async function loginHashes (apps: App[]): Promise<number> {
  let total = 0
  for (const app of apps) total += await securityEventCount(app, 'login_failed') + await securityEventCount(app, 'login_succeeded')
  return total
}

// The default limits, over a day's window: a burst that straddled the end of a window would rightly be counted in two.
const LIMITS = { LOGIN_MAX_FAILURES: '5', LOGIN_MAX_FAILURES_PER_USERNAME: '50', LOGIN_MAX_FAILURES_PER_ADDRESS: '100', LOGIN_FAILURE_WINDOW_SECONDS: '86400' }

/** One app, or several sharing the database and the Redis key prefix: instances of one service. */
export async function throttledInstances (t: Test, store: StoreKind, count: number, env: Record<string, string> = {}): Promise<App[]> {
  const databaseUrl = await testDatabaseUrl(t, 'sqlite')
  const redisKeyPrefix = `gatehouse-test:${randomUUID()}:`
  const apps: App[] = []
  for (let i = 0; i < count; i++) apps.push(await buildTestApp(t, { store, databaseUrl, redisKeyPrefix, env: { ...LIMITS, ...env } }))
  return apps
}

export async function loginFrom (app: App, username: string, password: string, remoteAddress = '127.0.0.1') {
  return await app.inject({ method: 'POST', url: '/login', payload: { username, password }, remoteAddress })
}

/** How many answers had each status, for messages. */
export function statusCounts (responses: Array<{ statusCode: number }>): Record<number, number> {
  const counts: Record<number, number> = {}
  for (const { statusCode } of responses) counts[statusCode] = (counts[statusCode] ?? 0) + 1
  return counts
}
