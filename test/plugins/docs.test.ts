import Ajv, { type ValidateFunction } from 'ajv'
import type { LightMyRequestResponse } from 'fastify'
import t from 'tap'
import type { App } from '../../src/app'
import { bearer, buildTestApp, signUp, signUpAdmin, uniqueName } from '../helpers'

type Test = tap.Test
type Json = Record<string, any>

// Routes that serve the documentation itself: not part of the API it describes.
const UNDOCUMENTED = /^\/(docs(\/.*)?|openapi\.json|metrics)$/

/** Every method and path the server routes, read from Fastify's own route tree (HEAD left out). */
function serverRoutes (app: App): string[] {
  const routes: string[] = []
  const stack: string[] = []
  for (const line of app.printRoutes({ commonPrefix: false }).split('\n')) {
    const match = /^([│ ]*)[├└]── (.*?)(?: \(([A-Z, ]+)\))?$/.exec(line)
    if (match === null) continue
    const depth = match[1].length / 4
    stack.length = depth
    stack.push(match[2])
    for (const method of match[3]?.split(', ') ?? []) {
      if (method !== 'HEAD') routes.push(`${method} ${stack.join('')}`)
    }
  }
  return routes
}

const openapiPath = (path: string): string => path.replace(/:([A-Za-z_]+)/g, '{$1}')

/** Sets additionalProperties: false wherever the schema lists properties, so an extra field fails. */
function closed (schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(closed)
  if (schema === null || typeof schema !== 'object') return schema
  const copy: Json = Object.fromEntries(Object.entries(schema).map(([key, value]) => [key, key === 'properties' ? Object.fromEntries(Object.entries(value as Json).map(([k, v]) => [k, closed(v)])) : closed(value)]))
  if (copy.properties !== undefined && copy.additionalProperties === undefined) copy.additionalProperties = false
  return copy
}

async function openapiDocument (t: Test, app: App): Promise<{ document: Json, resolved: Json }> {
  const response = await app.inject({ method: 'GET', url: '/openapi.json' })
  t.equal(response.statusCode, 200)
  const document = response.json()
  // An independent validator, against the OpenAPI specification's own JSON schemas.
  const { Validator } = await import('@seriousme/openapi-schema-validator')
  const validator = new Validator()
  const result = await validator.validate(structuredClone(document))
  t.ok(result.valid, 'the document is valid OpenAPI', { errors: result.errors })
  t.equal(validator.version, '3.0')
  return { document, resolved: validator.resolveRefs() as Json }
}

t.test('the document: valid, and it describes every route with its security and errors', async (t) => {
  const app = await buildTestApp(t)
  const { document } = await openapiDocument(t, app)

  const routes = serverRoutes(app)
  t.ok(routes.length > 15, `the route tree was read (${routes.length} routes)`)
  const api = routes.filter((route) => !UNDOCUMENTED.test(route.split(' ')[1]))
  const documented = Object.entries(document.paths as Json).flatMap(([path, operations]) =>
    Object.keys(operations).map((method) => `${method.toUpperCase()} ${path}`))
  t.same(api.map((route) => { const [method, path] = route.split(' '); return `${method} ${openapiPath(path)}` }).sort(), documented.sort(),
    'every route the server has is documented, and nothing else')

  const security = (method: string, path: string): unknown => document.paths[path][method].security
  const expected: Array<[string, string, unknown]> = [
    ['post', '/register', undefined],
    ['post', '/login', undefined],
    ['get', '/health/ready', undefined],
    ['post', '/logout', [{ accessToken: [] }]],
    ['post', '/logout/all', [{ accessToken: [] }]],
    ['post', '/refresh', [{ refreshToken: [] }]],
    ['get', '/user/{id}', [{ accessToken: [] }]],
    ['get', '/user/me', [{ accessToken: [] }]],
    ['post', '/login/fresh', [{ accessToken: [] }]],
    ['get', '/sessions', [{ accessToken: [] }]],
    ['delete', '/sessions/{id}', [{ accessToken: [] }]],
    ['get', '/user/{id}/sessions', [{ adminAccessToken: [] }]],
    ['delete', '/user/{id}/sessions/{sid}', [{ adminAccessToken: [] }]],
    ['delete', '/user/{id}', [{ freshAccessToken: [] }]],
    ['put', '/user/{id}/password', [{ freshAccessToken: [] }]],
    ['get', '/items', [{}, { accessToken: [] }]],
    ['get', '/item/{name}', [{ accessToken: [] }]],
    ['post', '/item/{name}', [{ freshAccessToken: [] }]],
    ['put', '/item/{name}', [{ accessToken: [] }]],
    ['delete', '/item/{name}', [{ adminAccessToken: [] }]],
    ['get', '/auth/verify', [{ accessToken: [] }]]
  ]
  for (const [method, path, requirement] of expected) t.same(security(method, path), requirement, `${method} ${path} security`)
  t.same(Object.keys(document.components.securitySchemes).sort(), ['accessToken', 'adminAccessToken', 'freshAccessToken', 'refreshToken'])
  t.match(document.paths['/item/{name}'].delete.description, /admin/)
  t.match(document.paths['/items'].get.description, /anonymous/)

  const errorRef = { $ref: '#/components/schemas/ErrorResponse' }
  for (const [path, operations] of Object.entries(document.paths as Json)) {
    for (const [method, operation] of Object.entries(operations as Json)) {
      t.ok(operation.summary, `${method} ${path} has a summary`)
      t.ok(operation.tags?.length === 1, `${method} ${path} has a tag`)
      const statuses = ['400', '500', ...(method === 'get' ? [] : ['413', '415'])]
      for (const status of statuses) {
        t.same(operation.responses[status]?.content?.['application/json']?.schema, errorRef, `${method} ${path} documents ${status} with the shared error schema`)
        t.match(operation.responses[status].description, /`[a-z_]+`/, `${method} ${path} ${status} names its error codes`)
      }
    }
  }
  t.match(document.components.schemas.ErrorResponse, { required: ['statusCode', 'error', 'message'] })
  t.match(document.paths['/login'].post.requestBody.content['application/json'].schema, { required: ['username', 'password'] })
})

t.test('real responses match their documented schemas, with no field beyond them', async (t) => {
  const admin = `admin_${uniqueName()}`
  const app = await buildTestApp(t, { env: { LOGIN_MAX_FAILURES: '2' } })
  const { document, resolved } = await openapiDocument(t, app)
  const ajv = new Ajv({ strict: false, allErrors: true })
  const validators = new Map<string, ValidateFunction>()
  const exercised = new Set<string>()

  async function call (method: string, template: string, options: { url?: string, token?: string, payload?: unknown, headers?: Record<string, string> } = {}): Promise<LightMyRequestResponse> {
    const response = await app.inject({
      method: method as 'GET',
      url: options.url ?? template,
      payload: options.payload as string,
      headers: { ...(options.token === undefined ? {} : bearer(options.token)), ...options.headers }
    })
    const key = `${method.toLowerCase()} ${openapiPath(template)}`
    exercised.add(key)
    const operation = resolved.paths[openapiPath(template)]?.[method.toLowerCase()]
    const documentedResponse = operation?.responses[String(response.statusCode)]
    if (documentedResponse === undefined) {
      t.fail(`${key} answered ${response.statusCode}, which is not documented: ${response.body}`)
      return response
    }
    const content = documentedResponse.content?.['application/json']
    if (content === undefined) {
      t.equal(response.body, '', `${key} ${response.statusCode} has no body, as documented`)
      return response
    }
    t.match(response.headers['content-type'], /^application\/json/, `${key} ${response.statusCode} is JSON`)
    const id = `${key} ${response.statusCode}`
    let validate = validators.get(id)
    if (validate === undefined) {
      validate = ajv.compile(closed(content.schema) as object)
      validators.set(id, validate)
    }
    t.ok(validate(response.json()), `${id} matches its documented schema`, { body: response.json(), errors: validate.errors })
    return response
  }

  t.equal((await call('GET', '/health/live')).statusCode, 200)
  t.equal((await call('GET', '/health/ready')).statusCode, 200)

  const name = uniqueName()
  const password = 'correct horse battery'
  t.equal((await call('POST', '/register', { payload: { username: name, password } })).statusCode, 201)
  t.equal((await call('POST', '/register', { payload: { username: name, password } })).statusCode, 409)
  t.equal((await call('POST', '/register', { payload: { username: 'ab', password } })).statusCode, 400)
  t.equal((await call('POST', '/register', { payload: 'x', headers: { 'content-type': 'text/plain' } })).statusCode, 415)
  t.equal((await call('POST', '/register', { payload: { username: name, password: 'p'.repeat(1024 * 1024 + 1) } })).statusCode, 413)
  t.equal((await call('POST', '/register', { payload: '{"username":', headers: { 'content-type': 'application/json' } })).statusCode, 400)

  const login = await call('POST', '/login', { payload: { username: name, password } })
  t.equal(login.statusCode, 200)
  const user = { id: (await app.users.findByUsername(name))!.id, access: login.json().access_token, refresh: login.json().refresh_token }
  const boss = await signUpAdmin(app, admin)
  const other = await signUp(app)
  t.equal((await call('POST', '/login', { payload: { username: name, password: 'wrong password' } })).statusCode, 401)
  const locked = uniqueName()
  for (let i = 0; i < 2; i++) await call('POST', '/login', { payload: { username: locked, password: 'wrong password' } })
  t.equal((await call('POST', '/login', { payload: { username: locked, password: 'wrong password' } })).statusCode, 429)
  t.equal((await call('POST', '/login', { payload: { username: name } })).statusCode, 400)

  const refreshed = await call('POST', '/refresh', { token: user.refresh })
  t.equal(refreshed.statusCode, 200)
  const stale = refreshed.json().access_token as string
  t.equal((await call('POST', '/refresh', { token: user.access })).statusCode, 401)

  t.equal((await call('GET', '/user/:id', { url: `/user/${user.id}`, token: user.access })).statusCode, 200)
  t.equal((await call('GET', '/user/:id', { url: `/user/${other.id}`, token: user.access })).statusCode, 403)
  t.equal((await call('GET', '/user/:id', { url: `/user/${other.id}`, token: boss.access })).statusCode, 200)
  t.equal((await call('GET', '/user/:id', { url: '/user/999999', token: boss.access })).statusCode, 404)
  t.equal((await call('GET', '/user/:id', { url: '/user/abc', token: user.access })).statusCode, 400)
  t.equal((await call('GET', '/user/:id', { url: `/user/${user.id}` })).statusCode, 401)

  t.equal((await call('GET', '/user/me', { token: user.access })).statusCode, 200)
  t.equal((await call('GET', '/user/me')).statusCode, 401)
  t.equal((await call('POST', '/login/fresh', { token: stale, payload: { password } })).statusCode, 200)
  t.equal((await call('POST', '/login/fresh', { token: stale, payload: { password: 'wrong password' } })).statusCode, 401)
  t.equal((await call('GET', '/sessions', { token: user.access })).statusCode, 200)
  const spare = await signUp(app)
  const spareSid = JSON.parse(Buffer.from(spare.access.split('.')[1], 'base64url').toString()).sid as string
  t.equal((await call('GET', '/user/:id/sessions', { url: `/user/${spare.id}/sessions`, token: boss.access })).statusCode, 200)
  t.equal((await call('GET', '/user/:id/sessions', { url: `/user/${spare.id}/sessions`, token: user.access })).statusCode, 403)
  t.equal((await call('DELETE', '/sessions/:id', { url: `/sessions/${spareSid}`, token: user.access })).statusCode, 404)
  const second = await app.inject({ method: 'POST', url: '/login', payload: { username: spare.username, password: spare.password } })
  const secondSid = JSON.parse(Buffer.from(second.json().access_token.split('.')[1], 'base64url').toString()).sid as string
  t.equal((await call('DELETE', '/sessions/:id', { url: `/sessions/${secondSid}`, token: spare.access })).statusCode, 200)
  t.equal((await call('DELETE', '/user/:id/sessions/:sid', { url: `/user/${spare.id}/sessions/${spareSid}`, token: boss.access })).statusCode, 200)
  t.equal((await call('DELETE', '/user/:id/sessions/:sid', { url: `/user/${spare.id}/sessions/${spareSid}`, token: boss.access })).statusCode, 404)

  t.equal((await call('GET', '/items')).statusCode, 200)
  t.equal((await call('POST', '/item/:name', { url: '/item/lamp', token: user.access, payload: { price: 12.5 } })).statusCode, 201)
  t.equal((await call('POST', '/item/:name', { url: '/item/lamp', token: user.access, payload: { price: 1 } })).statusCode, 409)
  t.equal((await call('POST', '/item/:name', { url: '/item/desk', token: stale, payload: { price: 1 } })).statusCode, 401)
  t.equal((await call('POST', '/item/:name', { url: '/item/desk', token: user.access, payload: { price: -1 } })).statusCode, 400)
  t.equal((await call('PUT', '/item/:name', { url: '/item/chair', token: stale, payload: { price: 3 } })).statusCode, 201)
  t.equal((await call('PUT', '/item/:name', { url: '/item/chair', token: stale, payload: { price: 4 } })).statusCode, 200)
  t.equal((await call('GET', '/items', { token: user.access })).statusCode, 200)
  t.equal((await call('GET', '/items', { url: '/items?limit=1' })).statusCode, 200)
  t.equal((await call('GET', '/items', { url: '/items?limit=0' })).statusCode, 400)
  t.equal((await call('GET', '/item/:name', { url: '/item/lamp', token: stale })).statusCode, 200)
  t.equal((await call('GET', '/item/:name', { url: '/item/none', token: stale })).statusCode, 404)
  t.equal((await call('DELETE', '/item/:name', { url: '/item/lamp', token: user.access })).statusCode, 403)
  t.equal((await call('DELETE', '/item/:name', { url: '/item/lamp', token: boss.access })).statusCode, 200)
  t.equal((await call('DELETE', '/item/:name', { url: '/item/lamp', token: boss.access })).statusCode, 404)

  t.equal((await call('GET', '/auth/verify', { token: user.access })).statusCode, 204)
  t.equal((await call('GET', '/auth/verify', { url: '/auth/verify?admin=1', token: user.access })).statusCode, 403)
  t.equal((await call('GET', '/auth/verify', { url: '/auth/verify?fresh=2', token: user.access })).statusCode, 400)
  t.equal((await call('GET', '/auth/verify')).statusCode, 401)

  const keySet = await call('GET', '/.well-known/jwks.json')
  t.same(keySet.json(), { keys: [] }, 'HS256 publishes no key')
  t.equal((await call('GET', '/.well-known/jwks.json', { headers: { 'if-none-match': keySet.headers.etag as string } })).statusCode, 304)

  const changed = await call('PUT', '/user/:id/password', { url: `/user/${user.id}/password`, token: user.access, payload: { old_password: password, new_password: 'a new password' } })
  t.equal(changed.statusCode, 200)
  const fresh = changed.json().access_token as string
  t.equal((await call('PUT', '/user/:id/password', { url: `/user/${other.id}/password`, token: fresh, payload: { old_password: password, new_password: 'a new password' } })).statusCode, 403)
  t.equal((await call('PUT', '/user/:id/password', { url: `/user/${user.id}/password`, token: fresh, payload: { old_password: 'not it at all', new_password: 'a new password' } })).statusCode, 401)

  t.equal((await call('POST', '/logout', { token: other.access })).statusCode, 200)
  t.equal((await call('POST', '/logout', { token: other.access })).statusCode, 401)
  t.equal((await call('POST', '/logout/all', { token: fresh })).statusCode, 200)
  const leaving = await signUp(app)
  t.equal((await call('DELETE', '/user/:id', { url: `/user/${leaving.id}`, token: leaving.access })).statusCode, 200)
  t.equal((await call('DELETE', '/user/:id', { url: `/user/${leaving.id}`, token: boss.access })).statusCode, 404)

  const validateUser = validators.get('get /user/{id} 200')
  t.ok(validateUser?.({ id: 1, username: 'x', is_admin: false }))
  t.notOk(validateUser?.({ id: 1, username: 'x', is_admin: false, password_hash: '$argon2id$' }), 'a leaked field would fail')
  const operations = Object.entries(document.paths as Json).flatMap(([path, ops]) => Object.keys(ops).map((method) => `${method} ${path}`))
  t.same(operations.filter((operation) => !exercised.has(operation)), [], 'every documented operation was exercised')
})

t.test('Swagger UI at /docs, with a CSP of its own; the API keeps its strict one', async (t) => {
  const app = await buildTestApp(t)
  const page = await app.inject({ method: 'GET', url: '/docs' })
  t.equal(page.statusCode, 200)
  t.match(page.headers['content-type'], /^text\/html/)
  t.match(page.body, /swagger-ui-bundle\.js/)
  const csp = String(page.headers['content-security-policy'])
  t.match(csp, /script-src 'self'/)
  t.match(csp, /connect-src 'self'/)
  t.match(csp, /frame-ancestors 'none'/)
  t.notMatch(csp, /unsafe-(inline|eval)/, 'no inline script or eval allowed')
  const bundle = await app.inject({ method: 'GET', url: '/docs/static/swagger-ui-bundle.js' })
  t.equal(bundle.statusCode, 200)
  t.match(bundle.headers['content-type'], /javascript/)
  for (const url of ['/items', '/openapi.json', '/health/live', '/no-such-route']) {
    const response = await app.inject({ method: 'GET', url })
    t.equal(response.headers['content-security-policy'], "default-src 'none'; frame-ancestors 'none'", `${url} keeps the API's CSP`)
  }
})

t.test('DOCS_ENABLED=false: no /docs, no /openapi.json', async (t) => {
  const app = await buildTestApp(t, { env: { DOCS_ENABLED: 'false' } })
  t.equal((await app.inject({ method: 'GET', url: '/docs' })).statusCode, 404)
  t.equal((await app.inject({ method: 'GET', url: '/openapi.json' })).statusCode, 404)
  t.equal((await app.inject({ method: 'GET', url: '/health/live' })).statusCode, 200)
})
