import type { FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { audit } from '../../src/accounts'
import { accountIdOf, displayAddress, shortUserAgent } from '../../src/sessions'
import type { TokenClaims } from '../../src/tokens'
import type { TokenPair, TokenSubject } from './tokens'

export interface LoginSessionsOptions {
  /** SESSIONS_MAX_PER_USER: a login beyond it ends the session used longest ago. */
  maxPerUser: number
}

const client = (request: FastifyRequest) =>
  ({ user_agent: shortUserAgent(request.headers['user-agent']), address: displayAddress(request.ip) })

/**
 * Sessions as the routes open, use and end them: the tokens, the revocation store (the end itself,
 * seen by every instance on the next request) and the listed row, in that order.
 */
export default fp<LoginSessionsOptions>(async function loginSessions (fastify, { maxPerUser }) {
  const { tokens, sessions, revocation } = fastify

  /** Ends one session of user `userId`: revoked first, so a failure leaves it listed rather than listed-but-dead. */
  async function end (request: FastifyRequest, userId: number, id: string, reason: string): Promise<void> {
    await revocation.revokeSession(String(userId), id, tokens.sessionExpiresAt())
    await sessions.remove(userId, id)
    audit(request, 'session_revoked', { userId, sessionId: id, actorId: request.user?.sub ?? userId, reason })
  }

  fastify.decorate('loginSessions', {
    /**
     * A password login's new session: its token pair (issued after `afterMs`, a cut-off just set)
     * and its row; beyond the cap, the sessions used longest ago end. Undefined when the user was
     * deleted meanwhile.
     */
    async open (request: FastifyRequest, subject: TokenSubject, afterMs = 0, issuedAt?: number): Promise<TokenPair | undefined> {
      const pair = tokens.issuePair(subject, afterMs, { issuedMs: issuedAt })
      const claims = tokens.verify(pair.refresh_token)
      const issuedMs = claims.iat_ms ?? Date.now()
      const opened = await sessions.open({
        id: claims.sid!, user_id: subject.id, created_at: issuedMs, last_used_at: issuedMs, expires_at: claims.exp * 1000, ...client(request)
      })
      if (!opened) return undefined
      for (const old of await sessions.beyond(subject.id, maxPerUser)) await end(request, subject.id, old.id, 'session_cap')
      return pair
    },

    /**
     * A refresh used the session; `rotatedMs` is when rotation dated the new refresh token it issued
     * (its `iat_ms`), whose lifetime the session's end follows.
     */
    async refreshed (request: FastifyRequest, presented: TokenClaims, rotatedMs?: number): Promise<void> {
      const userId = accountIdOf(presented)
      if (userId === undefined) return
      const now = Date.now()
      // Without rotation the refresh token, and so the session's end, stays the login's. With it,
      // the new token's dates are known from its issue: no need to verify what was just signed.
      await sessions.used({
        id: presented.sid ?? presented.jti,
        user_id: userId,
        created_at: now,
        last_used_at: rotatedMs ?? now,
        expires_at: (rotatedMs === undefined ? presented.exp : tokens.refreshExpiresAt(rotatedMs)) * 1000,
        ...client(request)
      })
    },

    end
  })
}, { name: 'gatehouse-login-sessions', fastify: '5.x', dependencies: ['gatehouse-tokens', 'gatehouse-revocation', 'gatehouse-sessions-repository'] })

declare module 'fastify' {
  interface FastifyInstance {
    loginSessions: {
      open: (request: FastifyRequest, subject: TokenSubject, afterMs?: number, issuedAt?: number) => Promise<TokenPair | undefined>
      refreshed: (request: FastifyRequest, presented: TokenClaims, rotatedMs?: number) => Promise<void>
      end: (request: FastifyRequest, userId: number, id: string, reason: string) => Promise<void>
    }
  }
}
