/**
 * The claims of a Gatehouse token. They follow Flask-JWT-Extended 4.x, so tokens move both ways
 * during a migration: `sub` is the user id as a string, `fresh` is true only from a password login
 * (Flask may also write a timestamp until which the token is fresh), extra claims sit at top level.
 */
export interface TokenClaims {
  sub: string
  type: 'access' | 'refresh'
  jti: string
  exp: number
  iat?: number
  /**
   * `iat` in milliseconds (ours only). A user-wide revocation must cut between tokens issued in the
   * same second, just before it and just after it (a password change issues a new pair at once).
   */
  iat_ms?: number
  nbf?: number
  fresh?: boolean | number
  is_admin?: boolean
  /** The login session shared by the access and refresh tokens of one login (not in Flask's tokens). */
  sid?: string
  csrf?: string
}

const MAX_CLAIM_LENGTH = 255

function isShortString (value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= MAX_CLAIM_LENGTH
}

// A NumericDate in seconds; a value in milliseconds (past the year 5000) is a client's mistake.
const MAX_NUMERIC_DATE = 1e11

function isNumericDate (value: unknown): boolean {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 && value < MAX_NUMERIC_DATE
}

/** Names the first claim of a signature-checked payload that is not of the expected shape. */
export function invalidClaim (payload: Record<string, unknown>): string | undefined {
  if (!isShortString(payload.sub)) return 'sub'
  if (payload.type !== 'access' && payload.type !== 'refresh') return 'type'
  if (!isShortString(payload.jti)) return 'jti'
  if (!isNumericDate(payload.exp)) return 'exp'
  if (payload.iat !== undefined && !isNumericDate(payload.iat)) return 'iat'
  if (payload.nbf !== undefined && !isNumericDate(payload.nbf)) return 'nbf'
  if (payload.iat_ms !== undefined && !(typeof payload.iat_ms === 'number' && isNumericDate(payload.iat_ms / 1000))) return 'iat_ms'
  if (payload.sid !== undefined && !isShortString(payload.sid)) return 'sid'
  if (payload.fresh !== undefined && typeof payload.fresh !== 'boolean' && !isNumericDate(payload.fresh)) return 'fresh'
  if (payload.is_admin !== undefined && typeof payload.is_admin !== 'boolean') return 'is_admin'
  return undefined
}

/** When the token was issued, in milliseconds; a token without iat_ms counts from the end of its iat second. */
export function issuedAtMs (claims: { iat?: number, iat_ms?: number }): number {
  if (claims.iat_ms !== undefined) return claims.iat_ms
  return claims.iat === undefined ? Number.POSITIVE_INFINITY : claims.iat * 1000 + 999
}

export function isFresh (claims: TokenClaims, now: number): boolean {
  return claims.fresh === true || (typeof claims.fresh === 'number' && now < claims.fresh)
}
