import { createConnection } from 'node:net'

export interface RawAnswer {
  status: number
  headers: Record<string, string>
  body: string
  /** The body parsed as JSON, or null. */
  json: any
  /** Whether the server closed the connection (rather than the client giving up). */
  closed: boolean
}

const TIMEOUT_MS = 10_000

/**
 * Writes `request` (raw bytes, as a client might send them, broken ones included) on a new TCP
 * connection and reads the first answer: what `inject` and Node's own client cannot send.
 * `chunks` are written `gapMs` apart after the first, for slow clients.
 */
export async function rawRequest (port: number, request: Buffer | string, options: { chunks?: Array<Buffer | string>, gapMs?: number, timeoutMs?: number } = {}): Promise<RawAnswer> {
  return await new Promise((resolve, reject) => {
    const socket = createConnection({ host: '127.0.0.1', port })
    const received: Buffer[] = []
    let closed = false
    const timers: NodeJS.Timeout[] = []
    const finish = (): void => {
      for (const timer of timers) clearTimeout(timer)
      socket.destroy()
      const text = Buffer.concat(received).toString('latin1')
      const end = text.indexOf('\r\n\r\n')
      const head = end === -1 ? text : text.slice(0, end)
      const [statusLine, ...lines] = head.split('\r\n')
      const headers: Record<string, string> = {}
      for (const line of lines) {
        const colon = line.indexOf(':')
        if (colon > 0) headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim()
      }
      let body = end === -1 ? '' : text.slice(end + 4)
      if (headers['transfer-encoding'] === 'chunked') body = dechunk(body)
      let json: any = null
      try { json = JSON.parse(body) } catch {}
      resolve({ status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1] ?? 0), headers, body, json, closed })
    }
    socket.on('data', (chunk: Buffer) => {
      received.push(chunk)
      const text = Buffer.concat(received).toString('latin1')
      const end = text.indexOf('\r\n\r\n')
      if (end === -1) return
      const length = /\r\ncontent-length: *(\d+)/i.exec(text.slice(0, end))
      if (length !== null && Buffer.byteLength(text.slice(end + 4), 'latin1') >= Number(length[1])) finish()
      else if (/\r\ntransfer-encoding: *chunked/i.test(text.slice(0, end)) && text.endsWith('0\r\n\r\n')) finish()
    })
    socket.once('end', () => { closed = true; finish() })
    socket.once('close', () => { closed = true; finish() })
    socket.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ECONNRESET' || error.code === 'EPIPE') { closed = true; finish() } else reject(error)
    })
    timers.push(setTimeout(() => { reject(new Error(`no answer within ${options.timeoutMs ?? TIMEOUT_MS} ms`)); socket.destroy() }, options.timeoutMs ?? TIMEOUT_MS))
    socket.once('connect', () => {
      socket.write(request)
      for (const [index, chunk] of (options.chunks ?? []).entries()) {
        timers.push(setTimeout(() => { if (!socket.destroyed) socket.write(chunk) }, (index + 1) * (options.gapMs ?? 0)))
      }
    })
  })
}

function dechunk (text: string): string {
  let out = ''
  let rest = text
  for (;;) {
    const line = rest.indexOf('\r\n')
    if (line === -1) return out
    const size = parseInt(rest.slice(0, line), 16)
    if (!(size > 0)) return out
    out += rest.slice(line + 2, line + 2 + size)
    rest = rest.slice(line + 2 + size + 2)
  }
}

/** A GET of `path` with `headers` written byte for byte (each value a Buffer or latin1 text). */
export function rawGet (path: string, headers: Array<[string, Buffer | string]>, method = 'GET'): Buffer {
  const lines: Buffer[] = [Buffer.from(`${method} ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n`, 'latin1')]
  for (const [name, value] of headers) {
    lines.push(Buffer.from(`${name}: `, 'latin1'), typeof value === 'string' ? Buffer.from(value, 'latin1') : value, Buffer.from('\r\n', 'latin1'))
  }
  lines.push(Buffer.from('\r\n', 'latin1'))
  return Buffer.concat(lines)
}
