import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { readSigningKey } from '../../src/tokens'
import { cli } from '../helpers/cli-process'
import { buildTestApp, SECRET, tempDir } from '../helpers'

t.test('keys generate: a private key each algorithm accepts, and nothing for HS256', async (t) => {
  const dir = tempDir(t)
  for (const algorithm of ['RS256', 'ES256', 'EdDSA'] as const) {
    const run = await cli({}, ['keys', 'generate', algorithm])
    t.equal(run.code, 0, run.stderr)
    t.match(run.stdout, /^-----BEGIN PRIVATE KEY-----\n[\s\S]+\n-----END PRIVATE KEY-----\n$/)
    const file = join(dir, `${algorithm}.pem`)
    writeFileSync(file, run.stdout)
    t.equal(readSigningKey(file, algorithm).algorithm, algorithm, `${algorithm}: the service loads it`)
  }
  for (const args of [['keys', 'generate', 'HS256'], ['keys', 'generate'], ['keys', 'generate', 'ES256', 'extra']]) {
    const run = await cli({}, args)
    t.equal(run.code, 2, args.join(' '))
    t.match(run.stderr, 'usage: gatehouse keys generate RS256|ES256|EdDSA')
    t.equal(run.stdout, '')
  }
})

t.test('keys show: each key on its timeline, as the service publishes them; a set the service would refuse fails', async (t) => {
  const dir = tempDir(t)
  const hour = 3600_000
  const now = Date.now()
  const keys = [
    { kid: 'gone', signs_from: new Date(now - 72 * hour).toISOString() },
    { kid: 'old', signs_from: new Date(now - 48 * hour).toISOString() },
    { kid: 'current', signs_from: new Date(now - hour).toISOString() },
    { kid: 'next', signs_from: new Date(now + 24 * hour).toISOString() }
  ]
  for (const { kid } of keys) writeFileSync(join(dir, `${kid}.pem`), (await cli({}, ['keys', 'generate', 'ES256'])).stdout)
  const manifest = (entries: unknown[]): void => { writeFileSync(join(dir, 'keys.json'), JSON.stringify({ keys: entries })) }
  manifest(keys.map((key) => ({ ...key, file: `${key.kid}.pem` })))
  // Refresh tokens live two hours: "old" (retired an hour ago) still verifies, "gone" does not.
  const env = { JWT_ALGORITHM: 'ES256', JWT_KEYS_DIR: dir, JWT_REFRESH_TOKEN_EXPIRES: '7200' }

  const shown = await cli(env, ['keys', 'show', '--json'])
  t.equal(shown.code, 0, shown.stderr)
  const timeline = JSON.parse(shown.stdout)
  t.equal(timeline.algorithm, 'ES256')
  t.same(timeline.keys.map((key: { kid: string, state: string }) => [key.kid, key.state]),
    [['gone', 'expired'], ['old', 'retired'], ['current', 'signing'], ['next', 'published']])
  t.equal(timeline.keys[1].retires_at, keys[2].signs_from)
  t.equal(Date.parse(timeline.keys[1].verifies_until), Date.parse(keys[2].signs_from) + 2 * hour + 60_000)
  t.equal(timeline.keys[3].retires_at, null)

  const app = await buildTestApp(t, { env: { ...env, JWT_SECRET_KEY: '' } })
  const published = (await app.inject({ method: 'GET', url: '/.well-known/jwks.json' })).json().keys.map((key: { kid: string }) => key.kid)
  t.same(published, timeline.keys.filter((key: { state: string }) => key.state !== 'expired').map((key: { kid: string }) => key.kid),
    'the service publishes exactly the keys not expired')

  const text = await cli(env, ['keys', 'show'])
  t.equal(text.code, 0)
  t.match(text.stdout, /^ES256; now \d{4}-/)
  t.match(text.stdout, /KID\s+STATE\s+SIGNS FROM\s+RETIRES AT\s+VERIFIES UNTIL/)
  t.match(text.stdout, /\ncurrent\s+signing\s+/)

  manifest([{ kid: 'next', file: 'next.pem', signs_from: keys[3].signs_from }])
  const notYet = await cli(env, ['keys', 'show'])
  t.equal(notYet.code, 1)
  t.match(notYet.stderr, 'no key signs yet')
  manifest([{ kid: 'a', file: 'old.pem' }, { kid: 'a', file: 'current.pem', signs_from: keys[2].signs_from }])
  t.match((await cli(env, ['keys', 'show'])).stderr, 'kid a is listed twice')
  const hs = await cli({ JWT_SECRET_KEY: SECRET }, ['keys', 'show'])
  t.equal(hs.code, 1)
  t.match(hs.stderr, 'JWT_ALGORITHM is HS256')
})
