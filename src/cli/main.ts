#!/usr/bin/env node
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { printable } from './printable'
import { CliError, COMMANDS, groupUsage, parse, USAGE, usageError } from './usage'

/** Gatehouse's version, from the package.json two folders up (src/cli or dist/src/cli alike: found by walking up). */
function version (): string {
  for (let dir = __dirname; ; dir = join(dir, '..')) {
    try {
      return (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string }).version
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || join(dir, '..') === dir) throw error
    }
  }
}

async function run (argv: string[]): Promise<string | { output: string, exitCode: number }> {
  const [group, name] = argv.filter((arg) => !arg.startsWith('-'))
  if (argv[0] === '--version' || argv[0] === '-V') {
    if (argv.length > 1) throw usageError('--version takes nothing else')
    return version()
  }
  if (group === 'help' || (group === undefined && (argv.includes('--help') || argv.includes('-h')))) return USAGE
  if (group === undefined) {
    if (argv.length > 0) parse(argv, [])
    throw new CliError(USAGE, 2)
  }
  if (!Object.hasOwn(COMMANDS, group)) throw usageError(`unknown command: ${group}`)
  if (name === undefined) {
    parse(argv, [])
    return groupUsage(group)
  }
  const command = Object.hasOwn(COMMANDS[group], name) ? COMMANDS[group][name] : undefined
  if (command === undefined) throw new CliError(`unknown command: ${group} ${name}\n${groupUsage(group)}`, 2)
  const parsed = parse(argv, command.flags, command.usage)
  if (parsed.help) return `Usage: gatehouse ${command.usage}`
  const args = { ...parsed, positionals: parsed.positionals.slice(2) }
  if (args.positionals.length !== command.arity) {
    const hint = name === 'create' && args.positionals.length > command.arity ? ' (a password is never an argument: it is read from a prompt or standard input)' : ''
    throw usageError(`usage: gatehouse ${command.usage}${hint}`)
  }
  // Loaded only now: the stores and their libraries take a second or more to load on a busy machine.
  const { execute } = await import('./commands.js')
  return await execute(group, name, args)
}

// Everything printed goes through printable(): names read from the database may hold anything.
run(process.argv.slice(2)).then((result) => {
  const { output, exitCode } = typeof result === 'string' ? { output: result, exitCode: 0 } : result
  process.stdout.write(printable(output) + '\n')
  process.exitCode = exitCode
}, (error: unknown) => {
  if (error instanceof CliError) {
    process.stderr.write(error.message === USAGE ? USAGE + '\n' : `gatehouse: ${printable(error.message)}\n`)
    process.exitCode = error.exitCode
  } else {
    // A ConfigError's message starts "Invalid configuration:" and lists every problem.
    process.stderr.write(`gatehouse: ${printable(error instanceof Error ? error.message : String(error))}\n`)
    process.exitCode = 1
  }
})
