import { spawn } from 'node:child_process'
import { tmpdir } from 'node:os'
import { resolve } from 'node:path'

import type {} from 'tap'

type Test = tap.Test

// The built CLI, as the `gatehouse` bin runs it; `npm test` builds it first.
export const CLI = resolve(__dirname, '..', '..', 'dist', 'src', 'cli', 'main.js')

export interface Run { code: number | null, stdout: string, stderr: string }

/**
 * Runs the CLI with nothing but `env` (and PATH) in its environment, `input` on its standard input,
 * in `cwd` (by default the system's temporary directory, where no .env of the checkout is read).
 */
export async function cli (env: Record<string, string>, args: string[], input = '', cwd = tmpdir()): Promise<Run> {
  const child = spawn(process.execPath, [CLI, ...args], { cwd, env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['pipe', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  child.stdin.end(input)
  const code = await new Promise<number | null>((resolve) => { child.once('close', resolve) })
  return { code, stdout, stderr }
}

/** The lines a run wrote to stderr for people (not the JSON audit and log lines), less the database it names. */
export function messages (run: Run): string {
  return run.stderr.split('\n').filter((line) => !line.startsWith('{') && !line.startsWith('gatehouse: database ')).join('\n')
}

/** The audit lines a run wrote to stderr, as [event, username] pairs; each checked for its fields. */
export function auditEvents (t: Test, run: Run): Array<[string, string]> {
  const records = run.stderr.split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line))
  return records.filter((record) => record.audit === true).map((record) => {
    t.match(record, { level: 30, via: 'cli', os_user: /./, user_id: /^\d+$/, msg: `audit: ${record.event as string}` }, `${record.event as string}: who ran it, on which account`)
    return [record.event, record.username]
  })
}
