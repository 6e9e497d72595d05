import { randomUUID } from 'node:crypto'
import type { App } from '../../src/app'
import { bearer, buildTestApp, decode, testDatabaseUrl, uniqueName, type DatabaseKind, type StoreKind } from '.'

import type {} from 'tap'

type Test = tap.Test

// Calls and set-ups the session, refresh and credential-race tests share.

/** GET /items with `token`: its status, 200 while the token's session lives, 401 once it has ended. */
export const itemsStatus = async (app: App, token: string): Promise<number> =>
  (await app.inject({ method: 'GET', url: '/items', headers: bearer(token) })).statusCode

export const refresh = async (app: App, token: string) => await app.inject({ method: 'POST', url: '/refresh', headers: bearer(token) })

export const listSessions = async (app: App, token: string, url = '/sessions') => await app.inject({ method: 'GET', url, headers: bearer(token) })

export const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }

/** Two instances of one service: apps sharing one database and one revocation store. */
export async function twoInstances (t: Test, database: DatabaseKind, store: StoreKind, env: Record<string, string> = {}): Promise<[App, App]> {
  const databaseUrl = await testDatabaseUrl(t, database)
  const redisKeyPrefix = `gatehouse-test:${randomUUID()}:`
  const a = await buildTestApp(t, { store, databaseUrl, redisKeyPrefix, env })
  const b = await buildTestApp(t, { store, databaseUrl, redisKeyPrefix, env })
  return [a, b]
}

export interface Device { access: string, refresh: string, sid: string }

/** A password login from a device, as its agent and address show it. */
export async function logInFrom (app: App, username: string, password: string, userAgent: string, remoteAddress: string): Promise<Device> {
  const response = await app.inject({ method: 'POST', url: '/login', payload: { username, password }, headers: { 'user-agent': userAgent }, remoteAddress })
  if (response.statusCode !== 200) throw new Error(`login failed: ${response.body}`)
  const body = response.json()
  return { access: body.access_token, refresh: body.refresh_token, sid: decode(body.access_token).sid }
}

/** Registers a user without logging in: it has no session yet. */
export async function register (app: App): Promise<{ id: number, username: string, password: string }> {
  const username = uniqueName()
  const password = 'correct horse battery'
  const response = await app.inject({ method: 'POST', url: '/register', payload: { username, password } })
  return { id: response.json().id, username, password }
}
