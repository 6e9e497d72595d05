import { Writable } from 'node:stream'
import t from 'tap'
import { buildApp, type App } from '../../src/app'
import { testConfig } from '../helpers'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

/** An app whose JSON log lines are kept for the test to read. */
async function appWithLog (t: tap.Test, env: Record<string, string>): Promise<{ app: App, lines: Array<Record<string, any>> }> {
  const lines: Array<Record<string, any>> = []
  const stream = new Writable({
    write (chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line !== '') lines.push(JSON.parse(line))
      done()
    }
  })
  const app = await buildApp(testConfig(t, { env: { LOG_LEVEL: 'info', ...env } }), { logger: { level: 'info', stream } })
  t.teardown(async () => { await app.close() })
  return { app, lines }
}

/** The log lines one inject produced: everything logged between its start and its end. */
async function loggedDuring (lines: Array<Record<string, any>>, request: () => Promise<unknown>): Promise<Array<Record<string, any>>> {
  const from = lines.length
  await request()
  return lines.slice(from)
}

t.test('behind a trusted proxy: its X-Request-Id and the forwarded client address are used', async (t) => {
  const { app, lines } = await appWithLog(t, { TRUST_PROXY: '10.0.0.0/8' })
  let response: Awaited<ReturnType<App['inject']>> | undefined
  const logged = await loggedDuring(lines, async () => {
    response = await app.inject({
      method: 'GET',
      url: '/item/anything',
      remoteAddress: '10.1.2.3',
      headers: { 'x-request-id': 'nginx-3f2a9c', 'x-forwarded-for': '203.0.113.9' }
    })
  })
  t.equal(response?.statusCode, 401, 'an error answer…')
  t.equal(response?.headers['x-request-id'], 'nginx-3f2a9c', '…carries the proxy\'s request id')
  t.ok(logged.length >= 2, 'the request logged its start and end')
  t.ok(logged.every((line) => line.reqId === 'nginx-3f2a9c'), 'every log line of the request has that id')
  t.equal(logged.find((line) => line.msg === 'incoming request')?.req.remoteAddress, '203.0.113.9', 'the log shows the client, not the proxy')
})

t.test('a direct client cannot choose its request id or its logged address', async (t) => {
  const { app, lines } = await appWithLog(t, { TRUST_PROXY: '10.0.0.0/8' })
  let response: Awaited<ReturnType<App['inject']>> | undefined
  const logged = await loggedDuring(lines, async () => {
    response = await app.inject({
      method: 'GET',
      // Not a health probe: those are not logged at info.
      url: '/items',
      remoteAddress: '198.51.100.7',
      headers: { 'x-request-id': 'forged-id', 'x-forwarded-for': '10.9.9.9, 203.0.113.9' }
    })
  })
  const id = response?.headers['x-request-id']
  t.match(id, UUID, 'a generated id is answered')
  t.ok(logged.length >= 2 && logged.every((line) => line.reqId === id), 'and logged on every line of the request')
  t.notOk(JSON.stringify(logged).includes('forged-id'), 'the forged id appears nowhere')
  t.equal(logged.find((line) => line.msg === 'incoming request')?.req.remoteAddress, '198.51.100.7', 'the socket\'s address is logged, not the forged one')
})

t.test('without TRUST_PROXY no peer is believed, and ids differ per request', async (t) => {
  const { app } = await appWithLog(t, {})
  const headers = { 'x-request-id': 'from-loopback', 'x-forwarded-for': '203.0.113.9' }
  const first = await app.inject({ method: 'GET', url: '/nope', remoteAddress: '127.0.0.1', headers })
  const second = await app.inject({ method: 'GET', url: '/nope', remoteAddress: '127.0.0.1', headers })
  t.equal(first.statusCode, 404)
  t.match(first.headers['x-request-id'], UUID, 'a 404 carries a generated id')
  t.match(second.headers['x-request-id'], UUID)
  t.not(first.headers['x-request-id'], second.headers['x-request-id'], 'one id per request')
})

t.test('a trusted proxy\'s id that could forge a log line or header is replaced', async (t) => {
  const { app } = await appWithLog(t, { TRUST_PROXY: '127.0.0.1' })
  for (const offered of ['a'.repeat(129), 'two words', 'semi;colon', '"quoted"']) {
    const response = await app.inject({ method: 'GET', url: '/health/live', headers: { 'x-request-id': offered } })
    t.match(response.headers['x-request-id'], UUID, JSON.stringify(offered))
  }
  const kept = await app.inject({ method: 'GET', url: '/health/live', headers: { 'x-request-id': 'a'.repeat(128) } })
  t.equal(kept.headers['x-request-id'], 'a'.repeat(128), 'up to 128 plain characters are kept')
})

t.test('TRUST_PROXY=loopback: the same parser as Fastify\'s, so both believe the same peers', async (t) => {
  const { app, lines } = await appWithLog(t, { TRUST_PROXY: 'loopback' })
  const logged = await loggedDuring(lines, async () => await app.inject({
    url: '/items', remoteAddress: '::ffff:127.0.0.1', headers: { 'x-forwarded-for': '203.0.113.9', 'x-request-id': 'from-the-proxy' }
  }))
  t.match(logged.find((line) => line.msg === 'incoming request'), { reqId: 'from-the-proxy', req: { remoteAddress: '203.0.113.9' } },
    'the request id and the client address, both believed from a loopback peer')
  const outside = await loggedDuring(lines, async () => await app.inject({
    url: '/items', remoteAddress: '198.51.100.7', headers: { 'x-forwarded-for': '203.0.113.9', 'x-request-id': 'forged' }
  }))
  t.not(outside.find((line) => line.msg === 'incoming request')?.reqId, 'forged', 'nor from anyone else')
  t.match(outside.find((line) => line.msg === 'incoming request'), { req: { remoteAddress: '198.51.100.7' } })
})
