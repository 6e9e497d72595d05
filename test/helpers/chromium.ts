import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { tempDir } from './index'

import type {} from 'tap'

type Test = tap.Test

// Debian's chromium (.ci/run installs it): pages are rendered by a real browser, under the CSP
// and cookie rules the server sends, not just served.
export const CHROMIUM_BIN = '/usr/bin/chromium'
const IN_CI = process.env.CI === 'true'
const BROWSER_MS = 30_000

export interface Rendered { dom: string, log: string }

/**
 * Loads `url` in headless Chromium with a profile of its own and returns the DOM once the page is
 * idle (virtual time waits for pending requests), and the browser's log (console and CSP reports).
 */
export async function render (t: Test, url: string, { virtualTimeMs = 5000 } = {}): Promise<Rendered> {
  const child = spawn(CHROMIUM_BIN, [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    `--user-data-dir=${join(tempDir(t), 'profile')}`, '--window-size=1280,2000',
    // Virtual time runs ahead while the page is idle: a page's scripts and requests take well
    // under a second of real time.
    `--virtual-time-budget=${virtualTimeMs}`, '--enable-logging=stderr', '--v=0', '--dump-dom', url
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

/** Whether Chromium is there to run; if not, the test is skipped (failed in CI) with a message. */
export function requireChromium (t: Test): boolean {
  if (existsSync(CHROMIUM_BIN)) return true
  const message = `${CHROMIUM_BIN} is not installed (apt-get install chromium)`
  if (IN_CI) t.fail(message)
  else t.pass(message, { skip: true })
  return false
}
