import proxyAddr from 'proxy-addr'

/** The entries of a comma-separated list of addresses and CIDR blocks (TRUST_PROXY). */
export function proxyList (value: string): string[] {
  return value.split(',').map((entry) => entry.trim()).filter(Boolean)
}

/**
 * Whether proxy-addr, the parser Fastify's own trustProxy uses, takes `entry`: an IP address, a
 * CIDR block or netmask, or one of its names (`loopback`, `linklocal`, `uniquelocal`).
 */
export function isProxyEntry (entry: string): boolean {
  try {
    proxyAddr.compile(entry)
    return true
  } catch {
    return false
  }
}

/**
 * Whether a socket's peer is one of the trusted proxies: the same list, through the same parser,
 * that Fastify's trustProxy is given, for the decisions Fastify leaves to us (whose X-Request-Id
 * to believe).
 */
export function trustedPeer (entries: string[]): (address: string | undefined) => boolean {
  const trust = proxyAddr.compile(entries)
  return function isTrusted (address) {
    return address !== undefined && trust(address, 0)
  }
}
