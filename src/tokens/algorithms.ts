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
    signatureBytes: () => 64
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
  return sign(FACTS[algorithm].digest, Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' })
}

export function verifyInput (algorithm: AsymmetricAlgorithm, publicKey: KeyObject, input: string, signature: Buffer): boolean {
  return verify(FACTS[algorithm].digest, Buffer.from(input), { key: publicKey, dsaEncoding: 'ieee-p1363' }, signature)
}

/** A new private key for `algorithm`: RSA 2048 bits, P-256 or Ed25519. */
export function generatePrivateKey (algorithm: AsymmetricAlgorithm): KeyObject {
  switch (algorithm) {
    case 'RS256': return generateKeyPairSync('rsa', { modulusLength: MIN_RSA_BITS }).privateKey
    case 'ES256': return generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey
    case 'EdDSA': return generateKeyPairSync('ed25519').privateKey
  }
}
