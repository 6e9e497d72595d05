/**
 * Whether the top-level object of a JSON text names a key twice. JSON.parse keeps the last value,
 * another parser may keep the first: a token whose claims can be read two ways is refused
 * (RFC 7519 §4). Expects text that JSON.parse accepted; reads each key as JSON does, escapes included.
 */
export function hasDuplicateTopLevelKey (json: string): boolean {
  const keys = new Set<string>()
  let depth = 0
  for (let i = 0; i < json.length; i++) {
    const char = json[i]
    if (char === '"') {
      const start = i
      for (i++; json[i] !== '"'; i++) if (json[i] === '\\') i++
      if (depth !== 1) continue
      let next = i + 1
      while (json[next] === ' ' || json[next] === '\t' || json[next] === '\n' || json[next] === '\r') next++
      if (json[next] !== ':') continue
      const key = JSON.parse(json.slice(start, i + 1)) as string
      if (keys.has(key)) return true
      keys.add(key)
    } else if (char === '{' || char === '[') {
      depth++
    } else if (char === '}' || char === ']') {
      depth--
    }
  }
  return false
}
