import { Writable } from 'node:stream'
import Fastify, { type FastifyInstance } from 'fastify'
import resourceServer from '../../src/resource-server'

import type {} from 'tap'

type Test = tap.Test

export interface Host {
  app: FastifyInstance
  /** The log lines the host wrote, parsed. */
  logLines: () => Array<Record<string, any>>
  /** GET `path` with `token` (if any): status, the error contract's parts, and the body. */
  get: (path: string, token?: string) => Promise<{ statusCode: number, error?: string, wwwAuthenticate?: string, body: any }>
}

/**
 * A small service of someone else's, protected by gatehouse/resource-server: a route of each kind,
 * and one without protection. Closed when the test ends.
 */
export async function startHost (t: Test, options: resourceServer.ResourceServerOptions): Promise<Host> {
  const lines: string[] = []
  const stream = new Writable({ write (chunk: Buffer, _encoding, done) { lines.push(...chunk.toString().split('\n').filter(Boolean)); done() } })
  const app = Fastify({ logger: { level: 'info', stream } })
  await app.register(resourceServer, options)
  app.get('/open', async () => ({ open: true }))
  app.get('/me', { onRequest: app.requireAccess }, async (request) => ({ sub: request.user!.sub, is_admin: request.user!.is_admin }))
  app.get('/fresh', { onRequest: app.requireFresh }, async (request) => ({ sub: request.user!.sub }))
  app.get('/admin', { onRequest: app.requireAdmin }, async (request) => ({ sub: request.user!.sub }))
  app.get('/maybe', { onRequest: app.optionalAccess }, async (request) => ({ sub: request.user?.sub ?? null }))
  await app.ready()
  t.teardown(async () => { await app.close() })
  return {
    app,
    logLines: () => lines.map((line) => JSON.parse(line) as Record<string, any>),
    async get (path, token) {
      const response = await app.inject({ method: 'GET', url: path, headers: token === undefined ? {} : { authorization: `Bearer ${token}` } })
      const body = response.json()
      return { statusCode: response.statusCode, error: body.error, wwwAuthenticate: response.headers['www-authenticate'] as string | undefined, body }
    }
  }
}
