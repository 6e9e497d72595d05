type Mget = (keys: string[]) => Promise<Array<string | null>>

interface Waiting {
  keys: string[]
  resolve: (values: Array<string | null>) => void
  reject: (error: unknown) => void
}

// A batch is sent at once when it reaches this many reads, so one command never grows unbounded.
const MAX_BATCH = 256

/**
 * Coalesces the MGETs asked for during one event-loop turn into a single MGET. Each protected
 * request reads its three revocation keys; under load many requests are parsed in one turn, and one
 * command for all of them costs the client a third of the CPU of one command each (measured with
 * ioredis here: 3.3 µs against 8–9 µs a read, with auto-pipelining on). Only for a single Redis
 * node: in a cluster, keys of different users live in different slots.
 */
export function mgetBatcher (mget: Mget): Mget {
  let waiting: Waiting[] = []

  function flush (): void {
    if (waiting.length === 0) return
    const batch = waiting
    waiting = []
    mget(batch.flatMap((entry) => entry.keys)).then((values) => {
      let offset = 0
      for (const entry of batch) {
        entry.resolve(values.slice(offset, offset + entry.keys.length))
        offset += entry.keys.length
      }
    }, (error: unknown) => {
      for (const entry of batch) entry.reject(error)
    })
  }

  return function batchedMget (keys) {
    return new Promise((resolve, reject) => {
      if (waiting.length === 0) setImmediate(flush)
      waiting.push({ keys, resolve, reject })
      if (waiting.length >= MAX_BATCH) flush()
    })
  }
}
