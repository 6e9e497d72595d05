import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyBaseLogger } from 'fastify'
import type { RevocationStore } from '../revocation'
import type { RefreshAnswers } from './refresh-answers'
import { openAnswer, sealAnswer } from './sealed-answer'

/** What a refresh token presented to /refresh gets. */
export type SpendOutcome<Answer> =
  | { outcome: 'minted', answer: Answer }
  /** Presented again within the reuse interval: the answer of the first spend, unchanged. */
  | { outcome: 'replayed', answer: Answer }
  /** Presented again after the interval: the token was copied, and its session must end. */
  | { outcome: 'reused' }
  /** Within the interval, but the first spend's answer never appeared (its instance failed). */
  | { outcome: 'pending' }

export interface SpentToken { sub: string, jti: string, exp: number }

// How often a retry looks for the first spend's answer, and for how long at most: the first spend
// only signs two tokens and writes one key, so its answer is there within milliseconds normally.
const POLL_MS = 20
const MAX_WAIT_MS = 5000

// The user id is the Redis hash tag, as for the revocation keys.
const answerKey = (token: SpentToken): string => `{u:${token.sub}}:a:${token.jti}`

/**
 * Spending a refresh token, idempotently within `intervalSeconds`: exactly one request, on any
 * instance, mints the answer (the revocation store's atomic spend decides which); it publishes the
 * answer, sealed with the refresh token, where every instance reads it, for what is left of the
 * interval. A request presenting the token again within the interval (measured from the first
 * spend, so retries never extend it) waits for that answer and gives it; after, it is reuse.
 */
export function refreshRetries (store: RevocationStore, answers: RefreshAnswers, intervalSeconds: number, log: FastifyBaseLogger) {
  const intervalMs = intervalSeconds * 1000
  // Answers being published by this instance: a retry here waits for them instead of polling.
  const publishing = new Map<string, Promise<void>>()

  async function waitForAnswer<Answer> (token: SpentToken, raw: string, deadline: number): Promise<SpendOutcome<Answer>> {
    const key = answerKey(token)
    for (;;) {
      await publishing.get(key)
      const sealed = await answers.get(key)
      if (sealed !== undefined) {
        const answer = openAnswer<Answer>(sealed, raw)
        // Sealed with other bytes under the same jti: not the token the answer was minted for.
        return answer === undefined ? { outcome: 'reused' } : { outcome: 'replayed', answer }
      }
      if (Date.now() >= deadline) return { outcome: 'pending' }
      await sleep(POLL_MS)
    }
  }

  return {
    intervalSeconds,

    async spend<Answer> (token: SpentToken, raw: string, mint: () => Answer): Promise<SpendOutcome<Answer>> {
      const started = Date.now()
      if (await store.spendRefreshToken(token.sub, token.jti, token.exp)) {
        const answer = mint()
        if (intervalMs === 0) return { outcome: 'minted', answer }
        const key = answerKey(token)
        // Published before it is answered: a client that lost this answer and retries finds it.
        const published = answers.put(key, sealAnswer(answer, raw), started + intervalMs)
          .catch((error: unknown) => { log.warn({ err: error }, 'storing a refresh answer for retries failed') })
          .finally(() => { publishing.delete(key) })
        publishing.set(key, published)
        await published
        return { outcome: 'minted', answer }
      }
      if (intervalMs === 0) return { outcome: 'reused' }
      const spentAt = await store.refreshTokenSpentAt(token.sub, token.jti)
      if (spentAt === undefined || Date.now() >= spentAt + intervalMs) return { outcome: 'reused' }
      return await waitForAnswer<Answer>(token, raw, Math.min(spentAt + intervalMs, Date.now() + MAX_WAIT_MS))
    }
  }
}

export type RefreshRetries = ReturnType<typeof refreshRetries>
