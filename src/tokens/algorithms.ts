import { generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto'

/** The JWS algorithms Gatehouse signs with: one per deployment, set by JWT_ALGORITHM. */
export const SIGNING_ALGORITHMS = ['HS256', 'RS256', 'ES256', 'EdDSA'] as const
export type SigningAlgorithm = typeof SIGNING_ALGORITHMS[number]
export type AsymmetricAlgorithm = Exclude<SigningAlgorithm, 'HS256'>

const MIN_RSA_BITS = 2048

interface AlgorithmFacts {
  /** The digest node:crypto's sign and verify take (Ed25519 hashes internally). */
  digest: 'sha256' | null
  /** What a private or public key of this algorithm must be, or why it is not. */
  keyProblem: (key: KeyObject) => string | undefined
  /** The signature's length in bytes for a given public key. */
  signatureBytes: (key: KeyObject) => number
  /** ECDSA: the one spelling of a signature that is signed and accepted (low-S). */
  canonical?: { make: (signature: Buffer) => Buffer, holds: (signature: Buffer) => boolean }
}

// P-256's group order. An ECDSA signature (r, s) has a twin (r, n − s) that verifies alike; only
// the low one (s ≤ n/2, as Bitcoin's BIP 146) is signed and accepted, so each token has one
// spelling. OpenSSL signs high-S about half the time, hence the signer's normalisation.
const P256_ORDER = BigInt('0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551')
const P256_HALF_ORDER = P256_ORDER >> 1n

const sOf = (signature: Buffer): bigint => BigInt(`0x${signature.subarray(32, 64).toString('hex')}`)

const lowS = {
  holds: (signature: Buffer): boolean => sOf(signature) <= P256_HALF_ORDER,
  make (signature: Buffer): Buffer {
    const s = sOf(signature)
    if (s <= P256_HALF_ORDER) return signature
    const flipped = Buffer.from((P256_ORDER - s).toString(16).padStart(64, '0'), 'hex')
    return Buffer.concat([signature.subarray(0, 32), flipped])
  }
}

const FACTS: Record<AsymmetricAlgorithm, AlgorithmFacts> = {
  RS256: {
    digest: 'sha256',
    keyProblem (key) {
      // rsa-pss keys are refused too: RS256 is PKCS#1 v1.5.
      if (key.asymmetricKeyType !== 'rsa') return `RS256 needs an RSA key, not ${key.asymmetricKeyType ?? 'a secret'}`
      const bits = key.asymmetricKeyDetails?.modulusLength ?? 0
      return bits < MIN_RSA_BITS ? `RS256 needs an RSA key of at least ${MIN_RSA_BITS} bits, not ${bits}` : undefined
    },
    signatureBytes: (key) => Math.ceil((key.asymmetricKeyDetails?.modulusLength ?? 0) / 8)
  },
  ES256: {
    digest: 'sha256',
    keyProblem (key) {
      if (key.asymmetricKeyType !== 'ec') return `ES256 needs an EC P-256 key, not ${key.asymmetricKeyType ?? 'a secret'}`
      const curve = key.asymmetricKeyDetails?.namedCurve
      return curve === 'prime256v1' ? undefined : `ES256 needs the P-256 curve, not ${curve ?? 'an unnamed one'}`
    },
    // r and s, 32 bytes each (JWS's IEEE P1363 form, not DER).
    signatureBytes: () => 64,
    canonical: lowS
  },
  EdDSA: {
    digest: null,
    keyProblem: (key) => key.asymmetricKeyType === 'ed25519'
      ? undefined
      : `EdDSA needs an Ed25519 key, not ${key.asymmetricKeyType ?? 'a secret'}`,
    signatureBytes: () => 64
  }
}

/** Why `key` cannot sign or verify `algorithm`, or undefined when it can. */
export function keyProblem (algorithm: AsymmetricAlgorithm, key: KeyObject): string | undefined {
  return FACTS[algorithm].keyProblem(key)
}

export function signatureBytes (algorithm: AsymmetricAlgorithm, publicKey: KeyObject): number {
  return FACTS[algorithm].signatureBytes(publicKey)
}

/** The JWS signature of `input` (the `header.payload` text). */
export function signInput (algorithm: AsymmetricAlgorithm, privateKey: KeyObject, input: string): Buffer {
  const { digest, canonical } = FACTS[algorithm]
  const signature = sign(digest, Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' })
  return canonical === undefined ? signature : canonical.make(signature)
}

/** Whether `signature` is the one accepted spelling of a valid signature of `input`. */
export function verifyInput (algorithm: AsymmetricAlgorithm, publicKey: KeyObject, input: string, signature: Buffer): boolean {
  const { digest, canonical } = FACTS[algorithm]
  if (canonical !== undefined && !canonical.holds(signature)) return false
  return verify(digest, Buffer.from(input), { key: publicKey, dsaEncoding: 'ieee-p1363' }, signature)
}

/** A new private key for `algorithm`: RSA 2048 bits, P-256 or Ed25519. */
export function generatePrivateKey (algorithm: AsymmetricAlgorithm): KeyObject {
  switch (algorithm) {
    case 'RS256': return generateKeyPairSync('rsa', { modulusLength: MIN_RSA_BITS }).privateKey
    case 'ES256': return generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey
    case 'EdDSA': return generateKeyPairSync('ed25519').privateKey
  }
}
