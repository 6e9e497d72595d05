import { readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, normalize, relative } from 'node:path'
import t from 'tap'

// The architecture as the folders show it: src/ modules are entered through their index only,
// runtime imports form no cycle, and every plugin says who it is and what it needs.
const ROOT = join(__dirname, '..')
const MODULES = ['accounts', 'cli', 'db', 'http', 'revocation', 'tokens']

function sources (dir: string): string[] {
  return readdirSync(join(ROOT, dir)).flatMap((name) => {
    const path = join(dir, name)
    if (statSync(join(ROOT, path)).isDirectory()) return sources(path)
    return name.endsWith('.ts') && !name.endsWith('.d.ts') ? [path] : []
  })
}

function resolveImport (from: string, specifier: string): string | undefined {
  const base = normalize(join(dirname(from), specifier))
  for (const candidate of [`${base}.ts`, join(base, 'index.ts')]) {
    try { if (statSync(join(ROOT, candidate)).isFile()) return candidate } catch {}
  }
  return undefined
}

const code = ['src', 'plugins', 'routes'].flatMap(sources)
const imports = new Map(code.map((file) => {
  const text = readFileSync(join(ROOT, file), 'utf8')
  const found = [...text.matchAll(/^import (type )?[^\n]*? from '(\.[^']*)'|require\('(\.[^']*)'\)/gm)].map((match) => ({
    typeOnly: match[1] !== undefined,
    target: resolveImport(file, match[2] ?? match[3])
  }))
  return [file, found]
}))
const moduleOf = (file: string): string | undefined => /^src\/([^/]+)\//.exec(file)?.[1]

t.test('the code is where the layout says', async (t) => {
  t.ok(code.length > 50, `${code.length} source files read`)
  for (const module of MODULES) t.ok(code.some((file) => moduleOf(file) === module), `src/${module}/ exists`)
  t.same(code.filter((file) => /^src\/[^/]+\.ts$/.test(file)).sort(), ['src/app.ts', 'src/config.ts', 'src/index.ts', 'src/server.ts'],
    'only the app, the server, the config and the package entry sit at src/\'s root')
})

t.test('no module reaches into another module\'s private files', async (t) => {
  const reaches: string[] = []
  let checked = 0
  for (const [file, found] of imports) {
    for (const { target } of found) {
      if (target === undefined) continue
      const module = moduleOf(target)
      if (module === undefined || moduleOf(file) === module) continue
      checked += 1
      if (target !== `src/${module}/index.ts`) reaches.push(`${file} -> ${target}`)
    }
  }
  t.ok(checked > 30, `${checked} imports across modules checked`)
  t.same(reaches, [])
})

t.test('runtime imports form no cycle', async (t) => {
  const cycles: string[] = []
  const state = new Map<string, 'open' | 'done'>()
  const stack: string[] = []
  function visit (file: string): void {
    state.set(file, 'open')
    stack.push(file)
    for (const { typeOnly, target } of imports.get(file) ?? []) {
      if (typeOnly || target === undefined) continue
      if (state.get(target) === 'open') cycles.push([...stack.slice(stack.indexOf(target)), target].join(' -> '))
      else if (!state.has(target)) visit(target)
    }
    stack.pop()
    state.set(file, 'done')
  }
  for (const file of imports.keys()) if (!state.has(file)) visit(file)
  t.same(cycles, [])
})

t.test('every plugin names itself gatehouse-*, declares Fastify 5 and sits in its folder', async (t) => {
  const plugins = sources('plugins')
  t.same([...new Set(plugins.map((file) => relative('plugins', dirname(file))))].sort(), ['app', 'external'])
  for (const file of plugins) {
    const text = readFileSync(join(ROOT, file), 'utf8')
    t.match(text, /\{ name: 'gatehouse-[a-z-]+', fastify: '5\.x'/, `${file} declares its name and fastify: '5.x'`)
  }
})
