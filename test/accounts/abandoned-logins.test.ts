import { connect } from 'node:net'
import t from 'tap'
import { buildTestApp, signUp, uniqueName } from '../helpers'
import { securityEventCount as eventCount } from '../helpers/login-attempts'


/** Sends a whole login request over its own socket, and hangs up as soon as it is sent, without reading the answer. */
async function abandonedLogin (port: number): Promise<void> {
  const body = JSON.stringify({ username: uniqueName('gone'), password: 'a guess' })
  await new Promise<void>((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.write(`POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`, () => {
        socket.destroy()
        resolve()
      })
    })
    socket.on('error', reject)
  })
}

t.test('logins whose client has gone are not hashed, and do not delay real ones', async (t) => {
  // The limits are not what this test is about: every login here comes from 127.0.0.1.
  const app = await buildTestApp(t, {
    env: { PASSWORD_HASH_CONCURRENCY: '1', LOGIN_MAX_FAILURES: '1000', LOGIN_MAX_FAILURES_PER_USERNAME: '1000', LOGIN_MAX_FAILURES_PER_ADDRESS: '10000' }
  })
  const user = await signUp(app)
  await app.listen({ port: 0, host: '127.0.0.1' })
  const port = (app.server.address() as { port: number }).port
  const realLogin = async (): Promise<number> => (await fetch(`http://127.0.0.1:${port}/login`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: user.username, password: user.password })
  })).status
  const failedBefore = await eventCount(app, 'login_failed')

  // Real logins ahead in the line keep the single hash slot busy while the abandoned ones arrive and hang up.
  const ahead = Array.from({ length: 40 }, realLogin)
  await new Promise((resolve) => setTimeout(resolve, 20))
  await Promise.all(Array.from({ length: 200 }, async () => { await abandonedLogin(port) }))
  const started = Date.now()
  const behind = await realLogin()
  const waited = Date.now() - started
  t.same(await Promise.all(ahead), Array.from({ length: 40 }, () => 200), 'the real logins ahead succeed')
  t.equal(behind, 200, 'so does the one behind')
  const hashed = await eventCount(app, 'login_failed') - failedBefore
  // On a loaded machine a few may reach their turn before the server has seen them hang up.
  t.ok(hashed <= 20, `${hashed} of 200 abandoned logins were hashed; the real one behind them waited ${waited} ms`)
})
