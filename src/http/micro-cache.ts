/**
 * A short-lived, bounded map of rendered responses. Entries live `ttlMs` at most; when full, the
 * map is cleared rather than tracked entry by entry, as every entry is about to expire anyway.
 */
export function microCache<V> (ttlMs: number, maxEntries: number) {
  const entries = new Map<string, { value: V, expiresAt: number }>()
  return {
    get (key: string, now: number): V | undefined {
      const entry = entries.get(key)
      if (entry === undefined) return undefined
      if (entry.expiresAt > now) return entry.value
      entries.delete(key)
      return undefined
    },
    set (key: string, value: V, now: number): void {
      if (ttlMs <= 0) return
      if (entries.size >= maxEntries) entries.clear()
      entries.set(key, { value, expiresAt: now + ttlMs })
    },
    clear (): void {
      entries.clear()
    }
  }
}
