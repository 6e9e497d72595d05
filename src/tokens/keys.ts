import { createHash, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { isAbsolute, join, normalize, sep } from 'node:path'
import { Type, type Static } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { keyProblem, type AsymmetricAlgorithm, type SigningAlgorithm } from './algorithms'

/** A public key as JWKS publishes it (RFC 7517): RSA n/e, EC crv/x/y or OKP crv/x. */
export interface PublicJwk {
  kty: string
  kid: string
  alg: AsymmetricAlgorithm
  use: 'sig'
  n?: string
  e?: string
  crv?: string
  x?: string
  y?: string
}

export interface SigningKey {
  kid: string
  algorithm: AsymmetricAlgorithm
  privateKey: KeyObject
  publicKey: KeyObject
  /** From when (ms since the epoch) this key signs; 0 for always. Published as soon as it is loaded. */
  signsFromMs: number
  jwk: PublicJwk
}

/** How tokens are signed: settled from the config before the app is built. */
export type Signing =
  | { algorithm: 'HS256', secret: string }
  | { algorithm: AsymmetricAlgorithm, keys: readonly SigningKey[] }

export const KEYS_MANIFEST = 'keys.json'

// kid goes into every token header and into Redis-free lookups: short, plain characters.
const KID_PATTERN = '^[A-Za-z0-9._-]{1,64}$'

const RFC3339 = '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})$'

const Manifest = Type.Object({
  keys: Type.Array(Type.Object({
    kid: Type.String({ pattern: KID_PATTERN }),
    file: Type.String({ minLength: 1 }),
    // An RFC 3339 time with its offset, so every instance reads the same instant.
    signs_from: Type.Optional(Type.String({ pattern: RFC3339 }))
  }, { additionalProperties: false }), { minItems: 1 })
}, { additionalProperties: false })
type Manifest = Static<typeof Manifest>

export class KeyConfigError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'KeyConfigError'
  }
}

// The members RFC 7638 hashes, in its (lexicographic) order, for each key type.
const THUMBPRINT_MEMBERS: Record<string, readonly string[]> = {
  RSA: ['e', 'kty', 'n'],
  EC: ['crv', 'kty', 'x', 'y'],
  OKP: ['crv', 'kty', 'x']
}

/** The RFC 7638 SHA-256 thumbprint of a public key, base64url: a kid every JOSE library can recompute. */
export function jwkThumbprint (publicKey: KeyObject): string {
  const jwk = publicKey.export({ format: 'jwk' }) as Record<string, string>
  const members = THUMBPRINT_MEMBERS[jwk.kty]
  if (members === undefined) throw new KeyConfigError(`no thumbprint for key type ${jwk.kty}`)
  const canonical = JSON.stringify(Object.fromEntries(members.map((name) => [name, jwk[name]])))
  return createHash('sha256').update(canonical).digest('base64url')
}

function publicJwk (publicKey: KeyObject, kid: string, algorithm: AsymmetricAlgorithm): PublicJwk {
  const { kty, n, e, crv, x, y } = publicKey.export({ format: 'jwk' }) as Record<string, string | undefined>
  const jwk: PublicJwk = { kty: kty!, kid, alg: algorithm, use: 'sig' }
  // Only the public members: never d, p, q and the like.
  for (const [name, value] of Object.entries({ n, e, crv, x, y })) {
    if (value !== undefined) jwk[name as 'n'] = value
  }
  return jwk
}

/** Reads a PEM private key (PKCS#8, or PKCS#1/SEC1) for `algorithm`; kid defaults to its thumbprint. */
export function readSigningKey (file: string, algorithm: AsymmetricAlgorithm, kid?: string, signsFromMs = 0): SigningKey {
  let pem: string
  try {
    pem = readFileSync(file, 'utf8')
  } catch (error) {
    throw new KeyConfigError(`cannot read the key file ${file}: ${(error as Error).message}`)
  }
  let privateKey: KeyObject
  try {
    privateKey = createPrivateKey(pem)
  } catch {
    // The parser's message could quote the file: say only what is wrong.
    throw new KeyConfigError(`${file} holds no PEM private key (public keys and encrypted keys are refused)`)
  }
  const problem = keyProblem(algorithm, privateKey)
  if (problem !== undefined) throw new KeyConfigError(`${file}: ${problem}`)
  const publicKey = createPublicKey(privateKey)
  const keyId = kid ?? jwkThumbprint(publicKey)
  return { kid: keyId, algorithm, privateKey, publicKey, signsFromMs, jwk: publicJwk(publicKey, keyId, algorithm) }
}

function readManifest (dir: string): Manifest {
  const path = join(dir, KEYS_MANIFEST)
  let value: unknown
  try {
    value = JSON.parse(readFileSync(path, 'utf8'))
  } catch (error) {
    throw new KeyConfigError(`cannot read ${path}: ${(error as Error).message}`)
  }
  const problem = Value.Errors(Manifest, value).First()
  if (problem !== undefined) throw new KeyConfigError(`${path}: ${problem.path || '/'} ${problem.message}`)
  return value as Manifest
}

/**
 * The keys of a JWT_KEYS_DIR: `keys.json` lists each key's kid, its PEM file (inside the directory)
 * and, optionally, from when it signs. The key with the latest `signs_from` that has come signs;
 * the others verify while tokens they may have signed live (see src/keyring.ts).
 */
export function readKeysDir (dir: string, algorithm: AsymmetricAlgorithm): SigningKey[] {
  const manifest = readManifest(dir)
  const kids = new Set<string>()
  const starts = new Set<number>()
  return manifest.keys.map((entry) => {
    if (kids.has(entry.kid)) throw new KeyConfigError(`${KEYS_MANIFEST}: kid ${entry.kid} is listed twice`)
    kids.add(entry.kid)
    const file = normalize(entry.file)
    if (isAbsolute(file) || file === '..' || file.startsWith(`..${sep}`)) {
      throw new KeyConfigError(`${KEYS_MANIFEST}: ${entry.kid}'s file must lie inside ${dir}`)
    }
    const signsFromMs = entry.signs_from === undefined ? 0 : Date.parse(entry.signs_from)
    if (!Number.isFinite(signsFromMs)) throw new KeyConfigError(`${KEYS_MANIFEST}: ${entry.kid}'s signs_from is not a time`)
    if (starts.has(signsFromMs)) throw new KeyConfigError(`${KEYS_MANIFEST}: two keys start signing at ${entry.signs_from ?? 'the start'}`)
    starts.add(signsFromMs)
    return readSigningKey(join(dir, file), algorithm, entry.kid, signsFromMs)
  })
}

export interface SigningSettings {
  algorithm: SigningAlgorithm
  privateKeyFile?: string
  keysDir?: string
}

/**
 * Settles how tokens are signed: HS256 with `secret()` (JWT_SECRET_KEY, or the server's generated
 * secret file), any other algorithm with the keys its files hold. Throws KeyConfigError.
 */
export function loadSigning (settings: SigningSettings, secret: () => string): Signing {
  const { algorithm } = settings
  if (algorithm === 'HS256') return { algorithm, secret: secret() }
  const keys = settings.keysDir !== undefined
    ? readKeysDir(settings.keysDir, algorithm)
    : [readSigningKey(settings.privateKeyFile!, algorithm)]
  return { algorithm, keys }
}
