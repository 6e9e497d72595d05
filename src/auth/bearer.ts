import { InvalidToken } from '../http'

const BAD_HEADER = "Bad Authorization header. Expected 'Authorization: Bearer <JWT>'"

/**
 * The token of `Authorization: Bearer <JWT>`, or undefined when the request carries none. Another
 * scheme (Basic…) counts as no token, as in Flask-JWT-Extended; a Bearer header that is not exactly
 * one token is malformed.
 */
export function bearerToken (header: string | undefined): string | undefined {
  if (header === undefined) return undefined
  const space = header.indexOf(' ')
  const scheme = space === -1 ? header : header.slice(0, space)
  if (scheme.length !== 6 || scheme.toLowerCase() !== 'bearer') return undefined
  const token = space === -1 ? '' : header.slice(space + 1).trim()
  if (token === '' || token.includes(' ')) throw new InvalidToken(BAD_HEADER)
  return token
}
