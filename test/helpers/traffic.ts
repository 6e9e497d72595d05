import type { InjectOptions } from 'fastify'
import type { App } from '../../src/app'

/** One answer of a stream: when it was sent (ms since the epoch), its status, how long it took. */
export interface Answer {
  instance: string
  probe: string
  at: number
  status: number
  ms: number
  error?: string
}

export interface Probe {
  name: string
  request: InjectOptions
}

// A request that never answers is recorded as status 0 after this long, and the stream goes on.
const GIVE_UP_MS = 10_000

/**
 * A stream of requests against each instance: every probe in turn, `pauseMs` apart, until stopped.
 * Every answer is recorded, for the test to assert on all of them afterwards.
 */
export function traffic (instances: Record<string, App>, probes: Probe[], pauseMs = 20): { answers: Answer[], stop: () => Promise<Answer[]> } {
  const answers: Answer[] = []
  let running = true
  const loops = Object.entries(instances).map(async ([instance, app]) => {
    while (running) {
      for (const probe of probes) {
        const at = Date.now()
        let timer: NodeJS.Timeout | undefined
        const gaveUp = new Promise<undefined>((resolve) => { timer = setTimeout(() => { resolve(undefined) }, GIVE_UP_MS) })
        const response = await Promise.race([app.inject(probe.request), gaveUp])
        clearTimeout(timer)
        answers.push({
          instance,
          probe: probe.name,
          at,
          status: response?.statusCode ?? 0,
          ms: Date.now() - at,
          error: response === undefined ? 'no answer' : response.statusCode >= 400 ? response.json().error : undefined
        })
      }
      await new Promise((resolve) => setTimeout(resolve, pauseMs))
    }
  })
  return {
    answers,
    async stop () {
      running = false
      await Promise.all(loops)
      return answers
    }
  }
}
