import { ServerBusy } from '../http'

/**
 * Runs at most `concurrency` tasks at once; later ones wait in line, and past `maxQueue` waiting
 * they are refused with ServerBusy (503) rather than queued without bound.
 */
export function concurrencyLimit (concurrency: number, maxQueue: number): <T>(task: () => Promise<T>) => Promise<T> {
  let running = 0
  const waiting: Array<() => void> = []
  return async function limited<T> (task: () => Promise<T>): Promise<T> {
    if (running < concurrency) {
      running++
    } else {
      if (waiting.length >= maxQueue) throw new ServerBusy()
      // The finishing task hands its slot over, so `running` stays as it is.
      await new Promise<void>((resolve) => { waiting.push(resolve) })
    }
    try {
      return await task()
    } finally {
      const next = waiting.shift()
      if (next !== undefined) next()
      else running--
    }
  }
}
