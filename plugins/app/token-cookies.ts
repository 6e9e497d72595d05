import { timingSafeEqual } from 'node:crypto'
import fastifyCookie from '@fastify/cookie'
import type { FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { CsrfMismatch } from '../../src/http'
import type { TokenClaims } from '../../src/tokens'

/** One token type's cookies: the HttpOnly token cookie, its readable CSRF twin, and the header echoing it. */
export interface CookiePair {
  name: string
  path: string
  csrfName: string
  csrfPath: string
  /** Lower-cased, as Node gives request headers. */
  csrfHeader: string
}

export interface CookieOptions {
  secure: boolean
  sameSite: 'strict' | 'lax' | 'none'
  csrfProtect: boolean
  /** JWT_COOKIE_DOMAIN; unset, each cookie is the host's alone. */
  domain?: string
  /** JWT_SESSION_COOKIE: no Max-Age, so the cookies end with the browser session. */
  session: boolean
  // Flask-JWT-Extended's names and paths by default, so a browser front end written for it keeps working.
  access: CookiePair
  refresh: CookiePair
  accessTokenExpires: number
  refreshTokenExpires: number
}

// Everything else is state-changing, an unknown or misspelt method too: a gateway's upstream may
// take any method, and the check must fail closed.
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])

function csrfOf (token: string): string {
  return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()).csrf as string
}

function tokenCookies (options: CookieOptions) {
  const base = { secure: options.secure, sameSite: options.sameSite, ...(options.domain === undefined ? {} : { domain: options.domain }) }
  const pairs = { access: options.access, refresh: options.refresh }
  function setPair (reply: FastifyReply, pair: CookiePair, token: string, lifetime: number): void {
    const maxAge = options.session ? {} : { maxAge: lifetime }
    void reply.setCookie(pair.name, token, { ...base, ...maxAge, path: pair.path, httpOnly: true })
    void reply.setCookie(pair.csrfName, csrfOf(token), { ...base, ...maxAge, path: pair.csrfPath, httpOnly: false })
  }
  return {
    /** The token a request carries in its cookie for `type`, if any. */
    read (request: FastifyRequest, type: TokenClaims['type']): string | undefined {
      return request.cookies[pairs[type].name]
    },

    /**
     * Double submit: a state-changing request authenticated by cookie must echo the token's `csrf`
     * claim in X-CSRF-TOKEN, which a cross-site form or script cannot read, so cannot send.
     * `method` is the request's own, or for /auth/verify the one of the request nginx guards.
     */
    checkCsrf (request: FastifyRequest, claims: TokenClaims, method: string): void {
      if (!options.csrfProtect || SAFE_METHODS.has(method)) return
      const sent = request.headers[pairs[claims.type].csrfHeader]
      const expected = claims.csrf
      if (typeof sent !== 'string' || typeof expected !== 'string') throw new CsrfMismatch()
      // Bytes, not characters: a header of Latin-1 or UTF-8 text has more bytes than characters.
      const sentBytes = Buffer.from(sent, 'latin1')
      const expectedBytes = Buffer.from(expected, 'latin1')
      if (sentBytes.length !== expectedBytes.length || !timingSafeEqual(sentBytes, expectedBytes)) throw new CsrfMismatch()
    },

    /** Sets the HttpOnly token cookies and their readable CSRF twins. */
    set (reply: FastifyReply, tokens: { access_token?: string, refresh_token?: string }): void {
      if (tokens.access_token !== undefined) setPair(reply, options.access, tokens.access_token, options.accessTokenExpires)
      if (tokens.refresh_token !== undefined) setPair(reply, options.refresh, tokens.refresh_token, options.refreshTokenExpires)
    },

    /** Clears all four, each with the path and domain it was set with, or the browser keeps it. */
    clear (reply: FastifyReply): void {
      for (const pair of [options.access, options.refresh]) {
        void reply.clearCookie(pair.name, { ...base, path: pair.path })
        void reply.clearCookie(pair.csrfName, { ...base, path: pair.csrfPath })
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
