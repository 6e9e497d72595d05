import type { Config } from '../config'
import { createKeyring, longestTokenLifetimeMs, generatePrivateKey, SIGNING_ALGORITHMS, type AsymmetricAlgorithm, KeyConfigError, loadSigning } from '../tokens'
import { table } from './text-table'

/** Whether `name` is an algorithm Gatehouse signs with a private key. */
export function isAsymmetric (name: string): name is AsymmetricAlgorithm {
  return name !== 'HS256' && (SIGNING_ALGORITHMS as readonly string[]).includes(name)
}

/** `gatehouse keys generate <algorithm>`: a new unencrypted PKCS#8 PEM private key. */
export function generateKeyPem (algorithm: AsymmetricAlgorithm): string {
  return (generatePrivateKey(algorithm).export({ type: 'pkcs8', format: 'pem' }) as string).trimEnd()
}

const time = (ms: number): string => Number.isFinite(ms) ? new Date(ms).toISOString() : '-'

/**
 * `gatehouse keys show`: the configured keys as the service would load them now (the same checks:
 * what it prints, a reload would accept), each with its place on the timeline.
 */
export function showKeys (config: Config, json: boolean, nowMs = Date.now()): string {
  const signing = loadSigning(config.jwt, () => '')
  if (signing.algorithm === 'HS256') {
    throw new KeyConfigError('JWT_ALGORITHM is HS256: tokens are signed with JWT_SECRET_KEY, and there are no keys to show')
  }
  const timeline = createKeyring(signing.algorithm, signing.keys, longestTokenLifetimeMs(config), nowMs).timeline(nowMs)
  if (json) {
    return JSON.stringify({
      algorithm: signing.algorithm,
      keys: timeline.map((key) => ({
        kid: key.kid,
        state: key.state,
        signs_from: time(key.signsFromMs),
        retires_at: Number.isFinite(key.retiresAtMs) ? time(key.retiresAtMs) : null,
        verifies_until: Number.isFinite(key.verifiesUntilMs) ? time(key.verifiesUntilMs) : null
      }))
    }, null, 2)
  }
  return `${signing.algorithm}; now ${time(nowMs)}\n` + table([
    ['KID', 'STATE', 'SIGNS FROM', 'RETIRES AT', 'VERIFIES UNTIL'],
    ...timeline.map((key) => [key.kid, key.state, key.signsFromMs === 0 ? 'the start' : time(key.signsFromMs), time(key.retiresAtMs), time(key.verifiesUntilMs)])
  ])
}
