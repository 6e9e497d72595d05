import { spawn, type ChildProcess } from 'node:child_process'
import { join, resolve } from 'node:path'

import type {} from 'tap'

type Test = tap.Test

// The built server, as `npm start` runs it; `npm test` builds it first.
export const SERVER = resolve(__dirname, '..', '..', 'dist', 'src', 'server.js')
const START_MS = 15_000

export interface ServerProcess {
  child: ChildProcess
  url: string
  port: number
  /** Everything it printed so far. */
  output: () => string
  /** Its JSON log lines so far. */
  logLines: () => Array<Record<string, any>>
  /** Resolves with the first log line that `matches`, rejects after `ms`. */
  waitForLog: (what: string, matches: (line: Record<string, any>) => boolean, ms?: number) => Promise<Record<string, any>>
  /** Its exit code (null when killed by a signal). */
  exited: Promise<number | null>
}

/**
 * Starts the built server with nothing but `env` (and PATH) in its environment, in `cwd`, its data
 * (DATA_DIR) in `cwd`/data, on a free loopback port; resolves once it listens. SIGKILLed when the
 * test ends, if still running. `command` runs it otherwise (`npm start`, a preloaded module).
 */
export async function startServer (t: Test, cwd: string, env: Record<string, string> = {}, command = [process.execPath, SERVER]): Promise<ServerProcess> {
  const child = spawn(command[0], command.slice(1), {
    cwd,
    env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', PORT: '0', DATA_DIR: join(cwd, 'data'), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    // A process group of its own, so the teardown also ends what `npm start` started.
    detached: true
  })
  let output = ''
  const exited = new Promise<number | null>((resolve) => { child.once('exit', (code) => { resolve(code) }) })
  t.teardown(async () => {
    try {
      process.kill(-(child.pid as number), 'SIGKILL')
    } catch {}
    await exited
  })
  const logLines = (): Array<Record<string, any>> => output.split('\n').flatMap((line) => {
    try { return [JSON.parse(line)] } catch { return [] }
  })

  async function waitForLog (what: string, matches: (line: Record<string, any>) => boolean, ms = START_MS): Promise<Record<string, any>> {
    const deadline = Date.now() + ms
    for (;;) {
      const found = logLines().find(matches)
      if (found !== undefined) return found
      if (Date.now() > deadline) throw new Error(`no log line of ${what} within ${ms} ms:\n${output}`)
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
  }

  return await new Promise((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error(`server did not start:\n${output}`)) }, START_MS)
    const collect = (chunk: Buffer): void => {
      output += chunk.toString()
      const listening = /Server listening at (http:\/\/127\.0\.0\.1:(\d+))/.exec(output)
      if (listening !== null) {
        clearTimeout(timer)
        resolve({ child, url: listening[1], port: Number(listening[2]), output: () => output, logLines, waitForLog, exited })
      }
    }
    child.stdout.on('data', collect)
    child.stderr.on('data', collect)
    void exited.then((code) => { clearTimeout(timer); reject(new Error(`server exited with ${code}:\n${output}`)) })
  })
}
