import t from 'tap'
import { buildApp } from '../../src/app'
import { testConfig, testDatabaseUrl } from '../helpers'

t.test('health probes log at debug only: nothing at info, their request lines at debug', async (t) => {
  for (const level of ['info', 'debug'] as const) {
    const lines: Array<Record<string, any>> = []
    const config = testConfig(t, { databaseUrl: await testDatabaseUrl(t, 'sqlite') })
    const app = await buildApp(config, { logger: { level, stream: { write: (line: string) => { lines.push(JSON.parse(line)) } } } })
    t.teardown(async () => { await app.close() })
    lines.length = 0
    for (const url of ['/health/live', '/health/ready']) t.equal((await app.inject({ url })).statusCode, 200, url)
    const probeLines = lines.filter((line) => line.req?.url?.startsWith('/health/') === true || line.msg === 'request completed')
    if (level === 'info') t.same(probeLines, [], 'at info: no line for a probe')
    else t.equal(probeLines.length, 4, 'at debug: each probe\'s request and response')
    t.equal((await app.inject({ url: '/items' })).statusCode, 200)
    if (level === 'info') t.ok(lines.some((line) => line.req?.url === '/items'), 'other requests are still logged at info')
  }
})
