import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { tempDir } from './index'

import type {} from 'tap'

type Test = tap.Test

// Debian's chromium (.ci/run installs it).
export const CHROMIUM_BIN = '/usr/bin/chromium'
const IN_CI = process.env.CI === 'true'
const BROWSER_MS = 30_000

/** Whether the browser is there; if not, the test is skipped with a message, or failed in CI. */
export function requireChromium (t: Test): boolean {
  if (existsSync(CHROMIUM_BIN)) return true
  const message = `${CHROMIUM_BIN} is not installed (apt-get install chromium)`
  if (IN_CI) t.fail(message)
  else t.pass(message, { skip: true })
  return false
}

/**
 * Loads `url` in headless Chromium with a profile of its own and returns the DOM once the page is
 * idle (virtual time waits for pending requests), and the browser's log.
 */
export async function dumpDom (t: Test, url: string): Promise<{ dom: string, log: string }> {
  const child = spawn(CHROMIUM_BIN, [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    `--user-data-dir=${join(tempDir(t), 'profile')}`,
    '--virtual-time-budget=10000', '--enable-logging=stderr', '--v=0', '--dump-dom', url
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
