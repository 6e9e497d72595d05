import { timingSafeEqual } from 'node:crypto'
import fastifyCookie from '@fastify/cookie'
import type { FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { CsrfMismatch } from '../../src/http'
import type { TokenClaims } from '../../src/tokens'

export interface CookieOptions {
  secure: boolean
  sameSite: 'strict' | 'lax' | 'none'
  csrfProtect: boolean
  accessTokenExpires: number
  refreshTokenExpires: number
}

// Flask-JWT-Extended's names, so a browser front end written for it keeps working.
const ACCESS = 'access_token_cookie'
const REFRESH = 'refresh_token_cookie'
const CSRF_ACCESS = 'csrf_access_token'
const CSRF_REFRESH = 'csrf_refresh_token'
const REFRESH_PATH = '/refresh'
// Everything else is state-changing, an unknown or misspelt method too: a gateway's upstream may
// take any method, and the check must fail closed.
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])

function csrfOf (token: string): string {
  return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()).csrf as string
}

function tokenCookies (options: CookieOptions) {
  const base = { secure: options.secure, sameSite: options.sameSite }
  return {
    /** The token a request carries in its cookie for `type`, if any. */
    read (request: FastifyRequest, type: TokenClaims['type']): string | undefined {
      return request.cookies[type === 'access' ? ACCESS : REFRESH]
    },

    /**
     * Double submit: a state-changing request authenticated by cookie must echo the token's `csrf`
     * claim in X-CSRF-TOKEN, which a cross-site form or script cannot read, so cannot send.
     * `method` is the request's own, or for /auth/verify the one of the request nginx guards.
     */
    checkCsrf (request: FastifyRequest, claims: TokenClaims, method: string): void {
      if (!options.csrfProtect || SAFE_METHODS.has(method)) return
      const sent = request.headers['x-csrf-token']
      const expected = claims.csrf
      if (typeof sent !== 'string' || typeof expected !== 'string') throw new CsrfMismatch()
      // Bytes, not characters: a header of Latin-1 or UTF-8 text has more bytes than characters.
      const sentBytes = Buffer.from(sent, 'latin1')
      const expectedBytes = Buffer.from(expected, 'latin1')
      if (sentBytes.length !== expectedBytes.length || !timingSafeEqual(sentBytes, expectedBytes)) throw new CsrfMismatch()
    },

    /** Sets the HttpOnly token cookies and their readable CSRF twins. */
    set (reply: FastifyReply, tokens: { access_token?: string, refresh_token?: string }): void {
      if (tokens.access_token !== undefined) {
        const maxAge = options.accessTokenExpires
        void reply.setCookie(ACCESS, tokens.access_token, { ...base, path: '/', httpOnly: true, maxAge })
        void reply.setCookie(CSRF_ACCESS, csrfOf(tokens.access_token), { ...base, path: '/', httpOnly: false, maxAge })
      }
      if (tokens.refresh_token !== undefined) {
        const maxAge = options.refreshTokenExpires
        void reply.setCookie(REFRESH, tokens.refresh_token, { ...base, path: REFRESH_PATH, httpOnly: true, maxAge })
        void reply.setCookie(CSRF_REFRESH, csrfOf(tokens.refresh_token), { ...base, path: REFRESH_PATH, httpOnly: false, maxAge })
      }
    },

    clear (reply: FastifyReply): void {
      for (const [name, path] of [[ACCESS, '/'], [CSRF_ACCESS, '/'], [REFRESH, REFRESH_PATH], [CSRF_REFRESH, REFRESH_PATH]]) {
        void reply.clearCookie(name, { ...base, path })
      }
    }
  }
}

export type TokenCookies = ReturnType<typeof tokenCookies>

declare module 'fastify' {
  interface FastifyInstance {
    /** Present only when JWT_TOKEN_LOCATION includes cookies. */
    tokenCookies: TokenCookies | null
  }
}

export default fp<CookieOptions & { enabled: boolean }>(async function cookies (fastify, { enabled, ...options }) {
  if (!enabled) {
    fastify.decorate('tokenCookies', null)
    return
  }
  await fastify.register(fastifyCookie)
  fastify.decorate('tokenCookies', tokenCookies(options))
}, { name: 'gatehouse-token-cookies', fastify: '5.x' })
