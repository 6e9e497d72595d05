import { spawn, spawnSync } from 'node:child_process'
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs'
import { createConnection } from 'node:net'
import { basename, join, resolve } from 'node:path'
import { tempDir } from '.'
import { freePort } from './redis-server'

import type {} from 'tap'

type Test = tap.Test

export const NGINX_BIN = '/usr/sbin/nginx'
// The files deploy/compose.yaml mounts, and the gateway's: what is tested here is what is deployed.
export const NGINX_DIR = resolve(__dirname, '..', '..', 'deploy', 'nginx')
/** The complete configuration compose runs (main context); it includes GATEHOUSE_CONF. */
export const NGINX_CONF = join(NGINX_DIR, 'nginx.conf')
/** The http-context part in front of the instances: log format, upstream, server. */
export const GATEHOUSE_CONF = join(NGINX_DIR, 'gatehouse.conf')
/** The http-context part of the auth_request gateway. */
export const GATEWAY_CONF = join(NGINX_DIR, 'gateway.conf')
/** The upstream servers GATEHOUSE_CONF names: compose's instances on the image's port. */
export const GATEHOUSE_SERVERS = ['gatehouse-1:3000', 'gatehouse-2:3000'] as const
/** The upstream servers GATEWAY_CONF names: the protected service and Gatehouse. */
export const GATEWAY_SERVERS = { app: 'app:8080', gatehouse: 'gatehouse:3000' } as const
/** The official image's directory for temporary files, which NGINX_CONF names. */
const IMAGE_TEMP = '/var/cache/nginx/'
const TEMP_PATHS = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']
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

/** `text` with `pattern` (global) replaced; throws unless it matched exactly `count` times. */
function edit (file: string, text: string, pattern: RegExp, replacement: string, count = 1): string {
  const found = text.match(pattern)?.length ?? 0
  if (found !== count) throw new Error(`${file}: ${String(pattern)} matches ${found} times, not ${count}: the test's edits no longer fit the file`)
  return text.replace(pattern, replacement)
}

const escape = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

/**
 * The sandbox's version of an http-context part: its `listen 80` on `listen`, and each upstream
 * server named in `servers` (host:port as shipped) at its loopback address. These two edits, and
 * nothing else: nginx binds its listen port even under `nginx -t`, and port 80 needs root (and
 * parallel tests need ports of their own); nginx resolves upstream host names when it reads the
 * file, and compose's names resolve only inside compose. Each edit must find its line once, so a
 * changed file fails loudly rather than being tested half-edited.
 */
export function sandboxPart (file: string, text: string, listen: string, servers: Record<string, string>): string {
  let result = edit(file, text, /^(\s*listen\s+)80;$/gm, `$1${listen};`)
  for (const [shipped, address] of Object.entries(servers)) {
    result = edit(file, result, new RegExp(`^(\\s*server\\s+)${escape(shipped)}(?=[\\s;])`, 'gm'), `$1${address}`)
  }
  return result
}

/**
 * The sandbox's version of the complete nginx.conf: the image's temp directories moved into
 * `dir`/temp (nginx creates them when it reads the file, -t or not, and the image's parent exists
 * only in the image). This edit, and nothing else.
 */
export function sandboxMain (file: string, text: string, dir: string): string {
  return edit(file, text, new RegExp(`^(\\s*\\w+_temp_path\\s+)${escape(IMAGE_TEMP)}`, 'gm'), `$1${join(dir, 'temp')}/`, TEMP_PATHS.length)
}

/**
 * A main context for a part, standing in for the nginx.conf that includes it: one worker (so the
 * upstream's round robin is one sequence), everything it writes in `dir`. Written to `dir`/nginx.conf.
 */
export function writeWrapper (dir: string, part: string): string {
  const conf = join(dir, 'nginx.conf')
  writeFileSync(conf, [
    'daemon off;',
    'worker_processes 1;',
    `error_log ${join(dir, 'error.log')} warn;`,
    'events { worker_connections 512; }',
    'http {',
    ...TEMP_PATHS.map((name) => `    ${name}_temp_path ${join(dir, 'temp', name)};`),
    `    include ${part};`,
    '}',
    ''
  ].join('\n'))
  return conf
}

/** True where nginx is missing, the test then skipped with a message (failed in CI). */
export function nginxMissing (t: Test): boolean {
  if (existsSync(NGINX_BIN)) return false
  const message = `${NGINX_BIN} is not installed (apt-get install nginx)`
  if (IN_CI) t.fail(message)
  else t.pass(message, { skip: true })
  return true
}

/**
 * nginx's arguments for a configuration in the sandbox `dir`: `-p` the prefix, the pid file there
 * (the shipped nginx.conf names none: the image's is built in, and `nginx -t` writes it too),
 * errors before the configuration is read to standard error.
 */
function nginxArgs (dir: string, conf: string): string[] {
  return ['-p', `${dir}/`, '-c', conf, '-e', 'stderr', '-g', `pid ${join(dir, 'nginx.pid')};`]
}

/**
 * `nginx -t` (`-T`: and print the configuration read, every included file with it) on the
 * configuration `conf` in the sandbox `dir`. nginx's standard output, where the shipped files send
 * the access log, is a file in `dir`: nginx opens /dev/stdout by name, which a pipe allows and a
 * socket does not. The output: what nginx printed, both streams.
 */
export function nginxTest (dir: string, conf: string): { ok: boolean, output: string } {
  const stdoutFile = join(dir, 'nginx-t.out')
  const stdout = openSync(stdoutFile, 'w')
  try {
    const result = spawnSync(NGINX_BIN, ['-T', ...nginxArgs(dir, conf)], { stdio: ['ignore', stdout, 'pipe'], encoding: 'utf8', timeout: WAIT_MS })
    return { ok: result.status === 0, output: `${readFileSync(stdoutFile, 'utf8')}${result.stderr}` }
  } finally {
    closeSync(stdout)
  }
}

/** A sandbox directory with its `temp`. */
export function nginxSandbox (t: Test): string {
  const dir = tempDir(t)
  mkdirSync(join(dir, 'temp'))
  return dir
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
 * deploy/nginx/gatehouse.conf; stopped when the test ends. Where nginx is missing the test is
 * skipped with a message (failed in CI), and this returns undefined.
 */
export async function startNginx (t: Test, upstreams: [string, string]): Promise<Nginx | undefined> {
  return await runNginx(t, GATEHOUSE_CONF, { [GATEHOUSE_SERVERS[0]]: upstreams[0], [GATEHOUSE_SERVERS[1]]: upstreams[1] })
}

/**
 * Real nginx on a free loopback port running the deploy/nginx/ part `part` (gatehouse.conf or
 * gateway.conf), each of its upstream servers in `servers` (host:port as shipped) at the address
 * given, in a main context of the test's own (writeWrapper).
 */
export async function runNginx (t: Test, part: string, servers: Record<string, string>): Promise<Nginx | undefined> {
  if (nginxMissing(t)) return undefined
  const dir = nginxSandbox(t)
  const port = await freePort()
  const sandboxed = join(dir, basename(part))
  writeFileSync(sandboxed, sandboxPart(part, readFileSync(part, 'utf8'), `127.0.0.1:${port}`, servers))
  const conf = writeWrapper(dir, sandboxed)

  // The part logs to /dev/stdout, as in the container: nginx's standard output is the access log.
  const accessLog = join(dir, 'access.log')
  const stdout = openSync(accessLog, 'a')
  // A process group of its own, so the master and its workers are stopped together.
  const child = spawn(NGINX_BIN, nginxArgs(dir, conf), { stdio: ['ignore', stdout, 'pipe'], detached: true })
  closeSync(stdout)
  let output = ''
  child.stderr?.on('data', (chunk: Buffer) => { output += chunk.toString() })
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
  const readAccessLog = (): string[] => readFileSync(accessLog, 'utf8').split('\n').filter(Boolean)
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
