import { BlockList, isIP } from 'node:net'

/** The entries of a comma-separated list of addresses and CIDR blocks (TRUST_PROXY). */
export function proxyList (value: string): string[] {
  return value.split(',').map((entry) => entry.trim()).filter(Boolean)
}

/** Whether `entry` is an IP address or a CIDR block (`10.0.0.0/8`, `fd00::/8`). */
export function isProxyEntry (entry: string): boolean {
  const [address, bits, extra] = entry.split('/')
  const family = isIP(address)
  if (family === 0 || extra !== undefined) return false
  return bits === undefined || (/^[0-9]{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128))
}

/**
 * Whether a socket's peer is one of the trusted proxies: the same list Fastify's trustProxy is
 * given, for the decisions Fastify leaves to us (whose X-Request-Id to believe).
 */
export function trustedPeer (entries: string[]): (address: string | undefined) => boolean {
  const list = new BlockList()
  for (const entry of entries) {
    const [address, bits] = entry.split('/')
    const type = isIP(address) === 4 ? 'ipv4' : 'ipv6'
    if (bits === undefined) list.addAddress(address, type)
    else list.addSubnet(address, Number(bits), type)
  }
  return function isTrusted (address) {
    if (address === undefined) return false
    // A socket listening on both stacks reports an IPv4 peer as ::ffff:a.b.c.d.
    const plain = address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address
    const family = isIP(plain)
    return family !== 0 && list.check(plain, family === 4 ? 'ipv4' : 'ipv6')
  }
}
