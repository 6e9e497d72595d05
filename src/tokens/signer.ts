import type { Keyring } from './keyring'
import { signInput } from './algorithms'

/**
 * Compact JWS signing with whichever key of the keyring signs at the token's issue time: the header
 * names it by kid, so verifiers holding the JWKS pick the right public key.
 */
export function createKeyringSigner (keyring: Keyring): (claims: object, issuedMs: number) => string {
  return function signClaims (claims, issuedMs) {
    const { key, headerSegment } = keyring.signer(issuedMs)
    const input = `${headerSegment}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`
    return `${input}.${signInput(key.algorithm, key.privateKey, input).toString('base64url')}`
  }
}
