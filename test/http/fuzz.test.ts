import fc from 'fast-check'
import t from 'tap'
import { bearer, buildTestApp, signUp } from '../helpers'

// Property-based fuzzing through HTTP: whatever a client sends, the answer is never a 5xx and
// every error keeps the contract. The seed is fixed per run by fast-check and printed on failure.
const RUNS = 300

type App = Awaited<ReturnType<typeof buildTestApp>>
type Response = Awaited<ReturnType<App['inject']>>

function assertContract (response: Response): void {
  if (response.statusCode >= 500) throw new Error(`${response.statusCode}: ${response.body}`)
  if (response.statusCode >= 400) {
    const body = response.json()
    if (body.statusCode !== response.statusCode || typeof body.error !== 'string' || typeof body.message !== 'string') {
      throw new Error(`error body off contract: ${response.body}`)
    }
  }
}

const jsonValue = fc.jsonValue({ maxDepth: 3 })
const header = fc.oneof(
  fc.string({ maxLength: 200 }),
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.string({ maxLength: 200 }).map((s) => `Bearer ${s}`),
  fc.tuple(fc.base64String(), fc.base64String(), fc.base64String()).map(([a, b, c]) => `Bearer ${a}.${b}.${c}`),
  fc.tuple(jsonValue, jsonValue).map(([h, p]) =>
    `Bearer ${Buffer.from(JSON.stringify(h)).toString('base64url')}.${Buffer.from(JSON.stringify(p)).toString('base64url')}.sig`)
)
// Header values Node itself would refuse to send are not what this test is about.
const sendable = (value: string): boolean => /^[\t\x20-\x7e\x80-\xff]*$/.test(value)

t.test('the Authorization header', async (t) => {
  const app = await buildTestApp(t, { store: 'sql' })
  const user = await signUp(app)
  const routes = [
    { method: 'GET', url: '/items' },
    { method: 'GET', url: '/item/x' },
    { method: 'POST', url: '/refresh' },
    { method: 'DELETE', url: '/item/x' },
    { method: 'GET', url: `/user/${user.id}` }
  ] as const
  let runs = 0
  await fc.assert(fc.asyncProperty(header.filter(sendable), fc.constantFrom(...routes), async (authorization, route) => {
    runs++
    const response = await app.inject({ ...route, headers: { authorization } })
    assertContract(response)
    if (response.statusCode < 400 && route.url !== '/items') throw new Error(`accepted a fuzzed token on ${route.url}`)
  }), { numRuns: RUNS })
  t.equal(runs, RUNS, `${RUNS} headers tried`)
})

t.test('every route body, params and query', async (t) => {
  const app = await buildTestApp(t, { store: 'sql' })
  const user = await signUp(app)
  const segment = fc.oneof(fc.string({ maxLength: 100 }), fc.integer().map(String), fc.constant(''))
  const routes = [
    { method: 'POST', path: () => '/register', auth: false },
    { method: 'POST', path: () => '/login', auth: false },
    { method: 'GET', path: (p: string) => `/user/${p}`, auth: true },
    { method: 'DELETE', path: (p: string) => `/user/${p}x`, auth: true },
    { method: 'GET', path: (p: string) => `/items?limit=${p}&after=${p}`, auth: false },
    { method: 'GET', path: (p: string) => `/item/${p}`, auth: true },
    { method: 'POST', path: (p: string) => `/item/${p}`, auth: true },
    { method: 'PUT', path: (p: string) => `/item/${p}`, auth: true },
    { method: 'DELETE', path: (p: string) => `/item/${p}`, auth: true }
  ] as const
  let runs = 0
  await fc.assert(fc.asyncProperty(fc.constantFrom(...routes), segment, jsonValue, fc.boolean(),
    async (route, param, body, asText) => {
      runs++
      const response = await app.inject({
        method: route.method,
        url: route.path(encodeURIComponent(param)),
        headers: { ...(route.auth ? bearer(user.access) : {}), 'content-type': 'application/json' },
        // Text: the JSON cut short, so never valid JSON.
        payload: asText ? JSON.stringify(body).slice(0, -1) : JSON.stringify(body)
      })
      assertContract(response)
    }), { numRuns: RUNS * 2 })
  t.equal(runs, RUNS * 2, `${RUNS * 2} requests tried`)
  t.equal((await app.inject({ method: 'GET', url: '/items', headers: bearer(user.access) })).statusCode, 200, 'the app still answers, the token still works')
})
