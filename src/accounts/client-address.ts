import { isIPv4, isIPv6 } from 'node:net'

/** The eight 16-bit groups of an IPv6 address, or undefined when it is not one. */
function ipv6Groups (address: string): number[] | undefined {
  let text = address.split('%')[0]
  if (!isIPv6(text)) return undefined
  // A dotted IPv4 tail (::ffff:1.2.3.4, 64:ff9b::1.2.3.4) is two groups.
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text)
  if (dotted !== null) {
    const [a, b, c, d] = dotted.slice(1).map(Number)
    text = text.slice(0, dotted.index) + `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`
  }
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined]
  const parse = (part: string | undefined): number[] => part === undefined || part === '' ? [] : part.split(':').map((group) => parseInt(group, 16))
  const front = parse(head)
  const back = parse(tail)
  return tail === undefined ? front : [...front, ...new Array<number>(8 - front.length - back.length).fill(0), ...back]
}

/**
 * The client a failure is counted against: an IPv4 address as it is; an IPv4-mapped IPv6 address
 * (::ffff:a.b.c.d, how a dual-stack socket shows an IPv4 client) as that IPv4 address; any other
 * IPv6 address by its /64, the block one subscriber line or host is given, so rotating through it
 * is still one client.
 */
export function clientAddressGroup (address: string): string {
  if (isIPv4(address)) return address
  const groups = ipv6Groups(address)
  if (groups === undefined) return address
  if (groups.slice(0, 5).every((group) => group === 0) && groups[5] === 0xffff) {
    return [groups[6] >> 8, groups[6] & 255, groups[7] >> 8, groups[7] & 255].join('.')
  }
  return `${groups.slice(0, 4).map((group) => group.toString(16)).join(':')}::/64`
}
