import { join } from 'node:path'
import t from 'tap'
import { SECRET, tempDir } from '../helpers'
import { render, requireChromium } from '../helpers/chromium'
import { startServer } from '../helpers/server-process'

type Test = tap.Test

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
  if (!requireChromium(t)) return
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
