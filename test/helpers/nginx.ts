import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { createConnection } from 'node:net'
import { join, resolve } from 'node:path'
import { tempDir } from '.'
import { freePort } from './redis-server'

import type {} from 'tap'

type Test = tap.Test

export const NGINX_BIN = '/usr/sbin/nginx'
// The template deploy/compose.yaml uses too: what is tested here is what is deployed.
export const NGINX_TEMPLATE = resolve(__dirname, '..', '..', 'deploy', 'nginx.conf')
const IN_CI = process.env.CI === 'true'
const WAIT_MS = 10_000

export interface Nginx {
  url: string
  port: number
  /** The access log so far, one entry per line. */
  accessLog: () => string[]
  /**
   * The access log once `ready` holds for it: nginx writes an entry after the response has left,
   * so a client can have its answer before the entry is there. Rejects after a bound.
   */
  accessLogWhen: (ready: (lines: string[]) => boolean) => Promise<string[]>
}

/** Fills the template's ${NAME} placeholders; a placeholder left unfilled is an error. */
export function renderTemplate (template: string, values: Record<string, string>): string {
  const rendered = template.replace(/\$\{([A-Z0-9_]+)\}/g, (placeholder, name: string) => values[name] ?? placeholder)
  const left = /\$\{[A-Z0-9_]+\}/.exec(rendered)
  if (left !== null) throw new Error(`deploy/nginx.conf has a placeholder the test does not fill: ${left[0]}`)
  return rendered
}

async function accepts (port: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port })
    socket.once('connect', () => { socket.destroy(); resolve(true) })
    socket.once('error', () => { resolve(false) })
  })
}

/**
 * Real nginx on a free loopback port in front of `upstreams` (host:port each), configured from
 * deploy/nginx.conf; stopped when the test ends. Where nginx is missing the test is skipped with a
 * message (failed in CI), and this returns undefined.
 */
export async function startNginx (t: Test, upstreams: [string, string]): Promise<Nginx | undefined> {
  return await runNginx(t, NGINX_TEMPLATE, { GATEHOUSE_1: upstreams[0], GATEHOUSE_2: upstreams[1] })
}

/**
 * Real nginx on a free loopback port, its http context from the deploy/ template at `template`
 * with `values` and the listen address, temporary paths and access log filled in.
 */
export async function runNginx (t: Test, template: string, values: Record<string, string>): Promise<Nginx | undefined> {
  if (!existsSync(NGINX_BIN)) {
    const message = `${NGINX_BIN} is not installed (apt-get install nginx)`
    if (IN_CI) t.fail(message)
    else t.pass(message, { skip: true })
    return undefined
  }
  const dir = tempDir(t)
  mkdirSync(join(dir, 'temp'))
  const port = await freePort()
  const accessLog = join(dir, 'access.log')
  writeFileSync(join(dir, 'gatehouse.conf'), renderTemplate(readFileSync(template, 'utf8'), {
    ...values,
    NGINX_LISTEN: `127.0.0.1:${port}`,
    NGINX_TEMP: join(dir, 'temp'),
    NGINX_ACCESS_LOG: accessLog
  }))
  // The main context, which the nginx image provides in production.
  writeFileSync(join(dir, 'nginx.conf'), [
    'daemon off;',
    'worker_processes 1;',
    `pid ${join(dir, 'nginx.pid')};`,
    `error_log ${join(dir, 'error.log')} warn;`,
    'events { worker_connections 512; }',
    `http { include ${join(dir, 'gatehouse.conf')}; }`,
    ''
  ].join('\n'))

  // A process group of its own, so the master and its workers are stopped together.
  const child = spawn(NGINX_BIN, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')], {
    stdio: ['ignore', 'pipe', 'pipe'], detached: true
  })
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { output += chunk.toString() })
  const exited = new Promise<void>((resolve) => { child.once('exit', () => { resolve() }) })
  t.teardown(async () => {
    if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return
    process.kill(-child.pid, 'SIGTERM')
    let timer: NodeJS.Timeout | undefined
    const late = await Promise.race([exited.then(() => false), new Promise<boolean>((resolve) => { timer = setTimeout(() => { resolve(true) }, WAIT_MS) })])
    clearTimeout(timer)
    if (late) process.kill(-child.pid, 'SIGKILL')
  })

  const errorLog = (): string => existsSync(join(dir, 'error.log')) ? readFileSync(join(dir, 'error.log'), 'utf8') : ''
  const deadline = Date.now() + WAIT_MS
  while (!await accepts(port)) {
    if (child.exitCode !== null) throw new Error(`nginx exited with ${child.exitCode}:\n${output}${errorLog()}`)
    if (Date.now() > deadline) throw new Error(`nginx does not accept connections within ${WAIT_MS} ms:\n${output}${errorLog()}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  const readAccessLog = (): string[] => existsSync(accessLog) ? readFileSync(accessLog, 'utf8').split('\n').filter(Boolean) : []
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    accessLog: readAccessLog,
    async accessLogWhen (ready) {
      const until = Date.now() + WAIT_MS
      for (;;) {
        const lines = readAccessLog()
        if (ready(lines)) return lines
        if (Date.now() > until) throw new Error(`nginx's access log is not as expected within ${WAIT_MS} ms:\n${lines.join('\n')}`)
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
    }
  }
}
