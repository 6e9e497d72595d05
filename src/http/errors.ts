import createError, { type FastifyErrorConstructor } from '@fastify/error'

// Every error the service answers on purpose: one code, one status, one message each. The code,
// lower-cased, is the stable `error` field of the response body that clients switch on
// (@fastify/error upper-cases the codes it is given).
const appErrorCodes = new Set<string>()

function define (code: string, message: string, statusCode: number): FastifyErrorConstructor {
  const constructor = createError(code, message, statusCode)
  appErrorCodes.add(new constructor().code)
  return constructor
}

export const ValidationFailed = define('validation_error', '%s', 400)
export const AuthorizationRequired = define('authorization_required', 'Request does not contain an access token.', 401)
export const InvalidToken = define('invalid_token', '%s', 401)
/** A token whose account never existed here or was deleted: refused as the token's fault, not the route's. */
export const accountMissing = (): Error => new InvalidToken('The account of the token does not exist.')
export const TokenExpired = define('token_expired', 'The token has expired.', 401)
export const TokenRevoked = define('token_revoked', 'The token has been revoked.', 401)
export const FreshTokenRequired = define('fresh_token_required', 'The token is not fresh.', 401)
export const WrongTokenType = define('wrong_token_type', 'Only %s tokens are allowed.', 401)
export const CsrfMismatch = define('csrf_mismatch', 'CSRF double submit tokens do not match.', 401)
export const InvalidCredentials = define('invalid_credentials', 'Invalid Credentials!', 401)
export const AdminRequired = define('admin_required', 'Admin privilege required.', 403)
/** A fresh token required where only 401 and 403 count as answers (nginx auth_request). */
export const FreshTokenNeeded = define('fresh_token_required', 'The token is not fresh.', 403)
export const Forbidden = define('forbidden', 'You may only act on your own account.', 403)
export const NotFound = define('not_found', '%s', 404)
export const UserExists = define('user_exists', "A user with username '%s' already exists.", 409)
export const ItemExists = define('item_exists', "An item with name '%s' already exists.", 409)
export const TooManyRequests = define('too_many_requests', 'Too many failed login attempts; try again later.', 429)
// Node's own refusals, before any route runs (src/http/client-errors.ts).
export const MalformedRequest = define('bad_request', 'The request is malformed.', 400)
export const RequestTimeout = define('request_timeout', 'The request did not arrive in time.', 408)
export const HeadersTooLarge = define('headers_too_large', 'The request headers are too large.', 431)
export const TooManyRegistrations = define('too_many_requests', 'Too many accounts created from this address; try again later.', 429)
/** The client hung up before its password was checked: nobody reads this answer (nginx's 499), it is for logs and metrics. */
export const ClientGone = define('client_gone', 'The client closed the connection before its request was served.', 499)
export const ServerBusy = define('server_busy', 'The server is busy; try again shortly.', 503)
export const RevocationUnavailable = define('revocation_unavailable',
  'The token revocation store is unavailable; try again shortly.', 503)
/** A refresh token presented again within its reuse interval, whose first answer is not stored (yet). */
export const RefreshPending = define('refresh_pending', 'The first answer to this refresh token is not ready; try again shortly.', 503)
export const DatabaseUnavailable = define('database_unavailable', 'The database is unavailable; try again shortly.', 503)

/** The response code of one of our errors, or undefined for any other error. */
export function appErrorCode (error: { code?: unknown }): string | undefined {
  return typeof error.code === 'string' && appErrorCodes.has(error.code) ? error.code.toLowerCase() : undefined
}

/** 401 answers say which scheme to use (RFC 6750); token problems name themselves. */
export function wwwAuthenticate (code: string): string {
  return code === 'authorization_required' || code === 'invalid_credentials'
    ? 'Bearer'
    : `Bearer error="invalid_token"`
}
