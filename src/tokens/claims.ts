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
  /** Required: a token without it could never be placed before a user-wide cut-off. */
  iat: number
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
  /** The account's credential version the token was issued under (ours only): /refresh refuses an older one. */
  cv?: number
  csrf?: string
  /** JWT_ENCODE_ISSUER / JWT_ENCODE_AUDIENCE when set; checked against the JWT_DECODE_* settings. */
  iss?: string
  aud?: string | string[]
}

/** What a token must say beyond its signature, and where a Flask-JWT-Extended 3.x token says it. */
export interface ClaimRules {
  /** JWT_DECODE_ISSUER: the one `iss` accepted; unset, any or none is. */
  issuer?: string
  /** JWT_DECODE_AUDIENCE: a token's `aud` must name one of these; unset, any or none is. */
  audience?: readonly string[]
  /** JWT_IDENTITY_CLAIM: `sub` (4.x), or another claim read first when present (3.x's `identity`). */
  identityClaim: string
  /** JWT_USER_CLAIMS: the object 3.x kept custom claims in (`user_claims`); unset, only top-level ones. */
  userClaims?: string
}

export const DEFAULT_CLAIM_RULES: ClaimRules = { identityClaim: 'sub' }

const MAX_CLAIM_LENGTH = 255

function isShortString (value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= MAX_CLAIM_LENGTH
}

// A NumericDate in seconds; a value in milliseconds (past the year 5000) is a client's mistake.
const MAX_NUMERIC_DATE = 1e11

function isNumericDate (value: unknown): boolean {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 && value < MAX_NUMERIC_DATE
}

/**
 * An identity as Flask writes it: a string, or an integer (3.x, and 4.x with PyJWT before 2.10),
 * read as its decimal string so it names the same account as the string form.
 */
function identityOf (value: unknown): unknown {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? String(value) : value
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value)

/**
 * The payload in Gatehouse's (4.x) layout: `sub` from the identity claim, `is_admin` from the
 * user claims object when the rules name one and the token has it. Returns the payload itself when
 * nothing moves, as for every token Gatehouse mints.
 */
export function normaliseClaims (payload: Record<string, unknown>, rules: ClaimRules): Record<string, unknown> {
  const raw = rules.identityClaim !== 'sub' && payload[rules.identityClaim] !== undefined ? payload[rules.identityClaim] : payload.sub
  const sub = identityOf(raw)
  const userClaims = rules.userClaims === undefined ? undefined : payload[rules.userClaims]
  if (sub === payload.sub && !isObject(userClaims)) return payload
  // Only the custom claim Gatehouse reads: the registered ones never come from inside user_claims.
  return isObject(userClaims) ? { ...payload, sub, is_admin: userClaims.is_admin } : { ...payload, sub }
}

/** Whether `iss` and `aud` are what the rules accept; names the claim that is not. */
export function unacceptedClaim (claims: TokenClaims, rules: ClaimRules): 'iss' | 'aud' | undefined {
  if (rules.issuer !== undefined && claims.iss !== rules.issuer) return 'iss'
  const { audience } = rules
  if (audience !== undefined) {
    const aud: unknown = claims.aud
    const named = typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud : []
    if (!named.some((entry) => typeof entry === 'string' && audience.includes(entry))) return 'aud'
  }
  return undefined
}

/** Names the first claim of a signature-checked payload that is not of the expected shape. */
export function invalidClaim (payload: Record<string, unknown>): string | undefined {
  if (!isShortString(payload.sub)) return 'sub'
  if (payload.type !== 'access' && payload.type !== 'refresh') return 'type'
  if (!isShortString(payload.jti)) return 'jti'
  if (!isNumericDate(payload.exp)) return 'exp'
  if (!isNumericDate(payload.iat)) return 'iat'
  if (payload.nbf !== undefined && !isNumericDate(payload.nbf)) return 'nbf'
  if (payload.iat_ms !== undefined && !(typeof payload.iat_ms === 'number' && isNumericDate(payload.iat_ms / 1000))) return 'iat_ms'
  if (payload.sid !== undefined && !isShortString(payload.sid)) return 'sid'
  if (payload.cv !== undefined && !(typeof payload.cv === 'number' && Number.isSafeInteger(payload.cv) && payload.cv >= 0)) return 'cv'
  if (payload.fresh !== undefined && typeof payload.fresh !== 'boolean' && !isNumericDate(payload.fresh)) return 'fresh'
  if (payload.is_admin !== undefined && typeof payload.is_admin !== 'boolean') return 'is_admin'
  return undefined
}

/**
 * When the token was issued, in milliseconds. A token without iat_ms (minted elsewhere) counts from
 * the start of its iat second: a cut-off made later in that second covers it, whichever came first.
 * The verifier refuses a token without iat; one reaching here all the same counts as issued at 0,
 * so every cut-off covers it.
 */
export function issuedAtMs (claims: { iat?: number, iat_ms?: number }): number {
  if (claims.iat_ms !== undefined) return claims.iat_ms
  return claims.iat === undefined ? 0 : Math.floor(claims.iat) * 1000
}

/** `nowMs` in milliseconds: a `fresh` timestamp (seconds, maybe fractional) is compared to the millisecond. */
export function isFresh (claims: TokenClaims, nowMs: number): boolean {
  return claims.fresh === true || (typeof claims.fresh === 'number' && nowMs < claims.fresh * 1000)
}
