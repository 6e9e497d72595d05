import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { SECRET, tempDir } from '../helpers'
import { startServer } from '../helpers/server-process'

type Test = tap.Test

// Debian's chromium (.ci/run installs it): Swagger UI is rendered by a real browser, under the
// CSP the server sends, not just served.
const CHROMIUM_BIN = '/usr/bin/chromium'
const IN_CI = process.env.CI === 'true'
const BROWSER_MS = 15_000

interface Rendered { dom: string, log: string }

/** The DOM of `url` once Swagger UI has rendered, and the browser's log (console and CSP reports). */
async function render (t: Test, url: string): Promise<Rendered> {
  const child = spawn(CHROMIUM_BIN, [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    `--user-data-dir=${join(tempDir(t), 'profile')}`, '--window-size=1280,2000',
    // Virtual time runs ahead while the page is idle: the bundle, the document and the render
    // take well under a second of real time.
    '--virtual-time-budget=5000', '--enable-logging=stderr', '--v=0', '--dump-dom', url
  ], { stdio: ['ignore', 'pipe', 'pipe'], detached: true })
  let dom = ''
  let log = ''
  child.stdout.on('data', (chunk: Buffer) => { dom += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { log += chunk.toString() })
  const exited = new Promise<number | null>((resolve) => { child.once('close', resolve) })
  // Its own process group: the browser and its helper processes end together.
  const stop = (): void => { if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) process.kill(-child.pid, 'SIGKILL') }
  t.teardown(stop)
  let timer: NodeJS.Timeout | undefined
  const code = await Promise.race([exited, new Promise<'late'>((resolve) => { timer = setTimeout(() => { resolve('late') }, BROWSER_MS) })])
  clearTimeout(timer)
  if (code === 'late') {
    stop()
    throw new Error(`chromium did not finish within ${BROWSER_MS} ms:\n${log}`)
  }
  if (code !== 0) throw new Error(`chromium exited with ${code}:\n${log}`)
  return { dom, log }
}

interface Operation { method: string, path: string, locked: boolean }

/** The operation blocks Swagger UI rendered: method, path, and whether it shows a lock. */
function operationBlocks (dom: string): Operation[] {
  return dom.split('<div class="opblock opblock-').slice(1).map((block) => ({
    method: /class="opblock-summary-method">([A-Z]+)</.exec(block)?.[1] ?? '?',
    path: /class="opblock-summary-path" data-path="([^"]+)"/.exec(block)?.[1] ?? '?',
    locked: block.includes('authorization__btn')
  }))
}

t.test('Swagger UI renders every operation, with its lock, under the /docs CSP', async (t: Test) => {
  if (!existsSync(CHROMIUM_BIN)) {
    const message = `${CHROMIUM_BIN} is not installed (apt-get install chromium)`
    if (IN_CI) t.fail(message)
    else t.pass(message, { skip: true })
    return
  }
  const dir = tempDir(t)
  const server = await startServer(t, dir, { DATABASE_URL: `sqlite:${join(dir, 'docs.db')}`, JWT_SECRET_KEY: SECRET })
  const document = await (await fetch(`${server.url}/openapi.json`)).json() as { paths: Record<string, Record<string, { security?: unknown[] }>> }
  const documented: Operation[] = Object.entries(document.paths).flatMap(([path, operations]) =>
    Object.entries(operations).map(([method, operation]) => ({ method: method.toUpperCase(), path, locked: operation.security !== undefined })))

  const { dom, log } = await render(t, `${server.url}/docs`)
  const rendered = operationBlocks(dom)
  t.ok(rendered.some(({ method, path }) => method === 'POST' && path === '/login'), 'POST /login is rendered')
  t.ok(rendered.some(({ method, path, locked }) => method === 'GET' && path === '/items' && locked), 'GET /items is rendered, with its lock')
  const key = ({ method, path }: Operation): string => `${method} ${path}`
  t.same(rendered.toSorted((a, b) => key(a).localeCompare(key(b))), documented.toSorted((a, b) => key(a).localeCompare(key(b))),
    'one block per documented operation, a lock on exactly those that take a token')
  t.ok(rendered.filter(({ locked }) => !locked).length >= 4, 'open operations (health, register, login) show no lock')
  t.match(dom, /class="btn authorize unlocked"/, 'the Authorize button is there')
  t.notMatch(log, /Content Security Policy/, 'no CSP violation')
  t.notMatch(log, /:ERROR:CONSOLE|Uncaught/, 'no script error')
})
