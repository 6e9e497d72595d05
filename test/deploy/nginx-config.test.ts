import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import {
  GATEHOUSE_CONF, GATEHOUSE_SERVERS, GATEWAY_CONF, GATEWAY_SERVERS, NGINX_CONF, nginxMissing, nginxSandbox, nginxTest,
  sandboxMain, sandboxPart, writeWrapper
} from '../helpers/nginx'

import type {} from 'tap'

type Test = tap.Test
type Edit = (text: string) => string

// `nginx -t` on deploy/nginx/ as shipped, with the sandbox's edits only (test/helpers/nginx.ts says
// why each is needed, and fails if one no longer fits): the listen port to a loopback one, the
// upstream host names (compose's, which resolve only inside compose) to loopback addresses with the
// ports as shipped, and, in the complete file, the image's temp directory to the sandbox's. -p,
// the pid file and the early error log go on the command line. `broken` spoils a file before the
// edits, to show that the check catches it.
const LISTEN = '127.0.0.1:8080'
const GATEHOUSE = Object.fromEntries(GATEHOUSE_SERVERS.map((server, i) => [server, server.replace(/^[^:]+/, `127.0.0.${i + 2}`)]))
const GATEWAY = Object.fromEntries(Object.values(GATEWAY_SERVERS).map((server, i) => [server, server.replace(/^[^:]+/, `127.0.0.${i + 2}`)]))
const read = (file: string): string => readFileSync(file, 'utf8')
const keep: Edit = (text) => text

/** The lines `edited` changed from `shipped`, which must keep its line count. */
function changedLines (shipped: string, edited: string): string[] {
  const before = shipped.split('\n')
  const after = edited.split('\n')
  if (before.length !== after.length) return [`${before.length} lines became ${after.length}`]
  return after.filter((line, i) => line !== before[i]).map((line) => line.trim())
}

/** deploy/nginx/nginx.conf beside gatehouse.conf, as compose mounts them in /etc/nginx. */
function checkComplete (t: Test, broken: { main?: Edit, part?: Edit } = {}): { ok: boolean, output: string, dir: string } {
  const dir = nginxSandbox(t)
  const main = (broken.main ?? keep)(read(NGINX_CONF))
  const part = (broken.part ?? keep)(read(GATEHOUSE_CONF))
  writeFileSync(join(dir, 'nginx.conf'), sandboxMain(NGINX_CONF, main, dir))
  writeFileSync(join(dir, 'gatehouse.conf'), sandboxPart(GATEHOUSE_CONF, part, LISTEN, GATEHOUSE))
  return { ...nginxTest(dir, join(dir, 'nginx.conf')), dir }
}

/** A deploy/nginx/ part alone, included in a minimal main context and http {}. */
function checkPart (t: Test, file: string, servers: Record<string, string>, broken: Edit = keep): { ok: boolean, output: string, dir: string } {
  const dir = nginxSandbox(t)
  const part = join(dir, 'part.conf')
  writeFileSync(part, sandboxPart(file, broken(read(file)), LISTEN, servers))
  return { ...nginxTest(dir, writeWrapper(dir, part)), dir }
}

t.test('the sandbox edits only the lines it must', async (t) => {
  const temp = changedLines(read(NGINX_CONF), sandboxMain(NGINX_CONF, read(NGINX_CONF), '/sandbox'))
  t.same(temp.map((line) => line.replace(/_temp_path \/sandbox\/temp\/\w+;$/, '')), ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'],
    'nginx.conf: the five temp paths, into the sandbox')
  t.same(changedLines(read(GATEHOUSE_CONF), sandboxPart(GATEHOUSE_CONF, read(GATEHOUSE_CONF), LISTEN, GATEHOUSE)), [
    'server 127.0.0.2:3000 max_fails=1 fail_timeout=5s;',
    'server 127.0.0.3:3000 max_fails=1 fail_timeout=5s;',
    `listen ${LISTEN};`
  ], 'gatehouse.conf: the instances\' host names and the listen address')
  t.same(changedLines(read(GATEWAY_CONF), sandboxPart(GATEWAY_CONF, read(GATEWAY_CONF), LISTEN, GATEWAY)),
    ['server 127.0.0.2:8080;', 'server 127.0.0.3:3000;', `listen ${LISTEN};`], 'gateway.conf: the two host names and the listen address')
  t.throws(() => sandboxPart(GATEHOUSE_CONF, read(GATEHOUSE_CONF).replace('listen 80;', 'listen 8000;'), LISTEN, GATEHOUSE),
    /matches 0 times/, 'an edit that no longer fits the file is an error, not a silent skip')
  t.notMatch(read(GATEHOUSE_CONF) + read(GATEWAY_CONF) + read(NGINX_CONF), /\$\{/, 'no ${…} placeholder left in any file')
})

t.test('deploy/nginx/nginx.conf, the complete file compose runs, passes nginx -t', async (t) => {
  if (nginxMissing(t)) return
  const { ok, output, dir } = checkComplete(t)
  t.ok(ok, 'nginx -t succeeds', { output })
  t.match(output, /test is successful/)
  t.match(output, `# configuration file ${join(dir, 'gatehouse.conf')}:`, 'gatehouse.conf included from beside it, as in /etc/nginx')
})

t.test('deploy/nginx/gatehouse.conf, included in a minimal http {}, passes nginx -t', async (t) => {
  if (nginxMissing(t)) return
  const { ok, output } = checkPart(t, GATEHOUSE_CONF, GATEHOUSE)
  t.ok(ok, 'nginx -t succeeds', { output })
  t.match(output, /test is successful/)
})

t.test('deploy/nginx/gateway.conf, included in a minimal http {}, passes nginx -t', async (t) => {
  if (nginxMissing(t)) return
  const { ok, output } = checkPart(t, GATEWAY_CONF, GATEWAY)
  t.ok(ok, 'nginx -t succeeds', { output })
  t.match(output, /test is successful/)
})

t.test('a broken file fails the same checks', async (t) => {
  if (nginxMissing(t)) return
  const misspelt: Edit = (text) => text.replace(/^(\s*)proxy_pass /m, '$1proxy_pas ')
  const unclosed: Edit = (text) => text.replace(/\}\s*$/, '')
  const cases: Array<[string, () => { ok: boolean, output: string }, RegExp]> = [
    ['nginx.conf with a directive misspelt', () => checkComplete(t, { main: (text) => text.replace('worker_processes', 'worker_process') }), /unknown directive "worker_process"/],
    ['nginx.conf with gatehouse.conf unclosed', () => checkComplete(t, { part: unclosed }), /unexpected end of file, expecting "}"/],
    ['gatehouse.conf with a directive misspelt', () => checkPart(t, GATEHOUSE_CONF, GATEHOUSE, misspelt), /unknown directive "proxy_pas"/],
    ['gateway.conf with a directive misspelt', () => checkPart(t, GATEWAY_CONF, GATEWAY, misspelt), /unknown directive "proxy_pas"/]
  ]
  for (const [what, check, error] of cases) {
    const { ok, output } = check()
    t.notOk(ok, `${what}: nginx -t fails`)
    t.match(output, error, `${what}: on that`)
  }
})
