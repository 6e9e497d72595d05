import { isIP } from 'node:net'

export const MAX_USER_AGENT_LENGTH = 256

/**
 * The client's address as a session shows it: request.ip (the client's own behind a trusted proxy),
 * with an IPv4 peer of a dual-stack socket (`::ffff:192.0.2.1`) shown as the IPv4 address it is.
 */
export function displayAddress (ip: string): string {
  const mapped = /^::ffff:(.+)$/i.exec(ip)
  return mapped !== null && isIP(mapped[1]) === 4 ? mapped[1] : ip
}

/** The first 256 characters of the User-Agent header, or null without one. */
export function shortUserAgent (header: string | undefined): string | null {
  if (header === undefined || header === '') return null
  // By code points, so a cut never leaves half a surrogate pair.
  return header.length <= MAX_USER_AGENT_LENGTH ? header : Array.from(header).slice(0, MAX_USER_AGENT_LENGTH).join('')
}
