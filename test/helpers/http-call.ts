import { request, type Agent, type IncomingHttpHeaders } from 'node:http'

export interface Answer {
  status: number
  headers: IncomingHttpHeaders
  json: any
}

export interface CallOptions {
  method?: string
  token?: string
  body?: unknown
  headers?: Record<string, string>
  /** The loopback address to connect from (127.0.0.2…), to tell clients and proxies apart in logs. */
  localAddress?: string
  /** A keep-alive agent; by default each call has a connection of its own. */
  agent?: Agent
}

// Only keeps a broken build from hanging; nothing here measures speed.
const TIMEOUT_MS = 10_000

/** One HTTP request over a real socket, its answer's JSON parsed (null when the body is not JSON). */
export async function call (url: string, path: string, options: CallOptions = {}): Promise<Answer> {
  const headers: Record<string, string> = { ...options.headers }
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`
  const body = options.body === undefined ? undefined : JSON.stringify(options.body)
  if (body !== undefined) headers['content-type'] = 'application/json'
  return await new Promise((resolve, reject) => {
    const req = request(url + path, {
      method: options.method ?? 'GET', headers, localAddress: options.localAddress, agent: options.agent ?? false, timeout: TIMEOUT_MS
    }, (response) => {
      let text = ''
      response.on('data', (chunk: Buffer) => { text += chunk.toString() })
      response.once('end', () => {
        let json: any = null
        try { json = JSON.parse(text) } catch {}
        resolve({ status: response.statusCode ?? 0, headers: response.headers, json })
      })
      response.once('error', reject)
    })
    req.once('timeout', () => { req.destroy(new Error(`${options.method ?? 'GET'} ${url}${path}: no answer within ${TIMEOUT_MS} ms`)) })
    req.once('error', reject)
    req.end(body)
  })
}
