import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { FastifyInstance, FastifySchema, RouteOptions } from 'fastify'
import fp from 'fastify-plugin'
import { ErrorResponse } from '../../src/http'

// Each protection the auth plugin offers, as OpenAPI shows it. All four are bearer JWTs; they are
// separate schemes so that every operation names the kind of token it takes.
const securitySchemes = {
  accessToken: {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'JWT',
    description: 'An access token from `POST /login`, `POST /login/fresh`, `POST /refresh` or a password change, not expired or revoked.'
  },
  freshAccessToken: {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'JWT',
    description: 'A *fresh* access token: one from a password login (`POST /login`, `POST /login/fresh`, a password change). ' +
      'Access tokens from `POST /refresh` are not fresh and get 401 `fresh_token_required`.'
  },
  adminAccessToken: {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'JWT',
    description: 'An access token with `is_admin: true` whose account is still an admin now ' +
      '(`is_admin` set on the account by the admin CLI); else 403 `admin_required`.'
  },
  refreshToken: {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'JWT',
    description: 'The refresh token of a login. Only `POST /refresh` takes it; with rotation each one works once.'
  }
} as const

// The one inline style Swagger UI writes: the <style> element of its top-bar logo (an SVG in
// swagger-ui-standalone-preset.js, swagger-ui-dist 5.34), shown until @fastify/swagger-ui puts its
// own logo in. Allowed by its hash, so no other inline style is; test/docs-browser.test.ts fails on
// any CSP violation in a real browser, so a Swagger UI upgrade that changes it is caught.
const SWAGGER_LOGO_STYLE = 'sha256-RL3ie0nH+Lzz2YNqQN83mnU0J1ot4QL7b99vMdIX99w='

type Scheme = keyof typeof securitySchemes
type Security = Array<Partial<Record<Scheme, string[]>>>

const requirements: Array<{ hook: 'requireAccess' | 'requireGatewayAccess' | 'requireFresh' | 'requireAdmin' | 'requireRefresh' | 'optionalAccess', security: Security, says: string }> = [
  { hook: 'requireAccess', security: [{ accessToken: [] }], says: 'Requires an access token.' },
  {
    hook: 'requireGatewayAccess',
    security: [{ accessToken: [] }],
    says: 'Requires an access token; from a cookie, with `X-CSRF-TOKEN` unless `X-Original-Method` is GET, HEAD or OPTIONS.'
  },
  { hook: 'requireFresh', security: [{ freshAccessToken: [] }], says: 'Requires a fresh access token (from a password login).' },
  { hook: 'requireAdmin', security: [{ adminAccessToken: [] }], says: 'Requires the access token of an admin.' },
  { hook: 'requireRefresh', security: [{ refreshToken: [] }], says: 'Requires a refresh token.' },
  {
    hook: 'optionalAccess',
    security: [{}, { accessToken: [] }],
    says: 'Open to anonymous callers; an access token, when sent, must be good and shows more.'
  }
]

// What each error status means, with the `error` codes it can carry.
const errorDescriptions: Record<string, string> = {
  400: 'Bad request: `validation_error` (the message names the field), `invalid_json`, `invalid_body` or `bad_request`.',
  401: 'Not authenticated: `authorization_required`, `invalid_token`, `token_expired`, `token_revoked`, ' +
    '`fresh_token_required`, `wrong_token_type`, `csrf_mismatch` or `invalid_credentials`. Carries `WWW-Authenticate: Bearer`.',
  403: 'Forbidden: `admin_required`, or `forbidden` (another user\'s account).',
  404: 'Not found: `not_found`.',
  409: 'Conflict: `user_exists` or `item_exists`.',
  413: 'Body too large: `body_too_large`.',
  415: 'Unsupported media type (only `application/json`): `unsupported_media_type`.',
  429: 'Too many failed logins: `too_many_requests`, with `Retry-After`.',
  500: 'Unexpected failure, never described: `internal_error`.',
  503: 'A store is out of reach or the server is saturated, with `Retry-After`: `revocation_unavailable`, ' +
    '`database_unavailable`, `server_busy` or `refresh_pending`.'
}

// Every route can answer these: a malformed URL is a 400 before any route runs, and anything
// unexpected a 500. A route that may read a body can also refuse it before validation.
const ALWAYS = ['400', '500']
const WITH_BODY = ['413', '415']

type ResponseSchemas = Record<string, object>

function hooksOf (route: RouteOptions): unknown[] {
  const { onRequest } = route
  if (onRequest === undefined) return []
  return Array.isArray(onRequest) ? onRequest : [onRequest]
}

/**
 * The documented schema of a route: its security requirement, derived from the auth hook it lists
 * (so the docs cannot drift from the code), and every error answer it can give.
 */
function documented (fastify: FastifyInstance, schema: FastifySchema, route: RouteOptions): FastifySchema {
  const hooks = hooksOf(route)
  const requirement = requirements.find(({ hook }) => hooks.includes(fastify[hook]))
  const responses: ResponseSchemas = { ...(schema.response as ResponseSchemas | undefined) }
  const methods = Array.isArray(route.method) ? route.method : [route.method]
  const takesBody = methods.some((method) => method !== 'GET' && method !== 'HEAD')
  for (const status of [...ALWAYS, ...(takesBody ? WITH_BODY : [])]) responses[status] ??= ErrorResponse
  for (const [status, response] of Object.entries(responses)) {
    if (response === ErrorResponse) responses[status] = { $ref: 'ErrorResponse#', description: errorDescriptions[status] }
  }
  const description = [schema.description, requirement?.says].filter(Boolean).join('\n\n')
  return {
    ...schema,
    response: responses,
    ...(description === '' ? {} : { description }),
    ...(requirement === undefined ? {} : { security: requirement.security })
  }
}

/**
 * The OpenAPI document of every route at GET /openapi.json, and Swagger UI at /docs. Registered
 * before the routes, so it sees each one as it is added.
 */
export default fp(async function docs (fastify) {
  // A shared schema, so the document holds it once, as components.schemas.ErrorResponse.
  fastify.addSchema(ErrorResponse)
  await fastify.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Gatehouse',
        version: '1',
        description: 'JWT authentication: access, refresh and fresh tokens, admin rights, revocation. ' +
          'Every error body is `{statusCode, error, message}`, `error` a stable snake_case code.'
      },
      components: { securitySchemes }
    },
    transform: ({ schema, url, route }) => ({ url, schema: documented(fastify, schema, route) }),
    // Shared schemas keep their own names in components.schemas.
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => typeof json.$id === 'string' ? json.$id : `def-${i}` }
  })

  // Swagger UI is the one page here meant to render: it gets a CSP of its own (scripts, styles and
  // images from this origin, requests to this origin only); every other route keeps the API's.
  await fastify.register(swaggerUi, {
    routePrefix: '/docs',
    staticCSP: "default-src 'none'; script-src 'self'; " +
      `style-src 'self' '${SWAGGER_LOGO_STYLE}'; img-src 'self' data:; connect-src 'self'; ` +
      "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    uiConfig: { deepLinking: false, persistAuthorization: false },
    theme: { title: 'Gatehouse API' }
  })

  fastify.get('/openapi.json', { schema: { hide: true } }, async function openapi () {
    return fastify.swagger()
  })
}, { name: 'gatehouse-docs', fastify: '5.x' })
