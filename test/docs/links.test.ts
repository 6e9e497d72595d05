import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import t from 'tap'

const ROOT = join(__dirname, '..', '..')
const README = join(ROOT, 'README.md')
const DOCS = join(ROOT, 'docs')

const docsPages = readdirSync(DOCS).filter((name) => name.endsWith('.md')).map((name) => join(DOCS, name))
const pages = [README, ...docsPages]

/** The text a reader sees as prose: fenced code blocks and inline code hold no links or headings. */
function prose (markdown: string): string {
  return markdown.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '').replace(/`[^`\n]*`/g, '')
}

function links (file: string): string[] {
  const found: string[] = []
  for (const match of prose(readFileSync(file, 'utf8')).matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
    found.push(match[1])
  }
  return found
}

/** GitHub's anchors: lowercase, punctuation dropped but for - and _, spaces to -, repeats numbered. */
function anchors (file: string): Set<string> {
  const seen = new Map<string, number>()
  const result = new Set<string>()
  for (const match of prose(readFileSync(file, 'utf8')).matchAll(/^#{1,6}\s+(.+?)\s*#*\s*$/gm)) {
    const slug = match[1].toLowerCase().replace(/[^\p{L}\p{N}_\- ]/gu, '').replace(/ /g, '-')
    const count = seen.get(slug) ?? 0
    seen.set(slug, count + 1)
    result.add(count === 0 ? slug : `${slug}-${count}`)
  }
  return result
}

const isExternal = (link: string): boolean => /^(https?:|mailto:)/i.test(link)

t.test('README.md and docs/ exist and link', async (t) => {
  t.ok(docsPages.length >= 10, `docs/ holds the subject pages (${docsPages.length})`)
  t.ok(links(README).filter((link) => !isExternal(link)).length >= docsPages.length, 'README.md links at least once per docs page')
})

t.test('every relative link resolves, anchors included', async (t) => {
  let checked = 0
  let anchored = 0
  for (const page of pages) {
    const name = relative(ROOT, page)
    for (const link of links(page)) {
      if (isExternal(link)) continue
      checked++
      const [path, anchor] = link.split('#', 2)
      const target = path === '' ? page : resolve(dirname(page), decodeURIComponent(path))
      if (!existsSync(target)) {
        t.fail(`${name}: ${link} points to a missing file`)
        continue
      }
      if (anchor === undefined) continue
      if (!target.endsWith('.md') || !statSync(target).isFile()) {
        t.fail(`${name}: ${link} has an anchor into a file that is not markdown`)
        continue
      }
      anchored++
      t.ok(anchors(target).has(anchor.toLowerCase()), `${name}: ${link} names a heading of ${relative(ROOT, target)}`)
    }
  }
  t.ok(checked > 20, `relative links checked (${checked})`)
  t.ok(anchored > 0, `anchored links checked (${anchored})`)
})

t.test('every docs page is reachable from README.md', async (t) => {
  const reached = new Set<string>([README])
  const queue = [README]
  while (queue.length > 0) {
    const page = queue.shift()!
    for (const link of links(page)) {
      if (isExternal(link)) continue
      const path = link.split('#', 1)[0]
      if (path === '' || !path.endsWith('.md')) continue
      const target = resolve(dirname(page), decodeURIComponent(path))
      if (!reached.has(target) && existsSync(target)) {
        reached.add(target)
        queue.push(target)
      }
    }
  }
  for (const page of docsPages) t.ok(reached.has(page), `${relative(ROOT, page)} is reachable from README.md`)
})

t.test('every setting src/config.ts reads is documented in docs/configuration.md', async (t) => {
  const source = readFileSync(join(ROOT, 'src', 'config.ts'), 'utf8')
  const names = new Set<string>()
  // The settings are the keys of the environment schema (two-space indent), and whatever reads env by name.
  const schema = /EnvSchema\s*=\s*Type\.Object\(\{([\s\S]*?)^\}\)/m.exec(source)
  t.ok(schema, 'src/config.ts declares EnvSchema = Type.Object({ … })')
  for (const match of (schema?.[1] ?? '').matchAll(/^ {2}([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*)\s*:/gm)) names.add(match[1])
  for (const match of source.matchAll(/\benv(?:\.|\[\s*['"])([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*)/g)) names.add(match[1])
  t.ok(names.size > 20, `settings found in src/config.ts (${names.size})`)

  const doc = readFileSync(join(DOCS, 'configuration.md'), 'utf8')
  const rows = new Map<string, string[]>()
  for (const match of doc.matchAll(/^\|\s*`([A-Z][A-Z0-9_]*)`\s*\|(.*)\|\s*$/gm)) {
    rows.set(match[1], match[2].split('|').map((cell) => cell.trim()))
  }
  for (const name of names) {
    const cells = rows.get(name)
    t.ok(cells !== undefined && cells.length >= 2 && cells.every((cell) => cell !== ''),
      `${name} has a row in docs/configuration.md with its default and meaning`)
  }
  for (const name of rows.keys()) t.ok(names.has(name), `${name}, in docs/configuration.md, is a setting src/config.ts reads`)
})
