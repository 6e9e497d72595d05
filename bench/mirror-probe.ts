import { subscribe } from 'node:diagnostics_channel'
import { writeFileSync } from 'node:fs'
import { MIRROR_APPLIED_CHANNEL } from '../src/revocation'

// Preloaded into a service (`node --require dist/bench/mirror-probe.js dist/src/server.js`) by
// bench/mirror-propagation.ts: notes how long each revocation took from the publishing instance to
// this one's mirror, and writes the delays to MIRROR_PROBE_FILE when the process exits.
const file = process.env.MIRROR_PROBE_FILE
if (file === undefined) throw new Error('MIRROR_PROBE_FILE is not set')

const kinds: Record<string, string> = { t: 'token', s: 'session', u: 'cutoff' }
const delays: Array<{ kind: string, ms: number }> = []
subscribe(MIRROR_APPLIED_CHANNEL, (message) => {
  const { key, sentAtMs, appliedAtMs } = message as { key: string, sentAtMs: number, appliedAtMs: number }
  delays.push({ kind: kinds[/\}:([tsu])/.exec(key)?.[1] ?? ''] ?? 'other', ms: appliedAtMs - sentAtMs })
})
process.on('exit', () => { writeFileSync(file, JSON.stringify(delays)) })
