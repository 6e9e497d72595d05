import { join } from 'node:path'
import t from 'tap'
import { cli } from '../helpers/cli-process'
import { importAndCheck } from '../helpers/user-import'
import { DATABASE_KINDS, SECRET, tempDir, testDatabaseUrl } from '../helpers'

type Test = tap.Test

// From JSON lines, and wrong usage. From a Flask app's database in user-import.test.ts.
for (const database of DATABASE_KINDS) {
  t.test(`from jsonl into ${database}`, async (t: Test) => { await importAndCheck(t, database, 'jsonl') })
}

t.test('wrong usage and unreadable sources', async (t: Test) => {
  const env = { DATABASE_URL: await testDatabaseUrl(t, 'sqlite'), JWT_SECRET_KEY: SECRET }
  t.equal((await cli(env, ['user', 'import'])).code, 2, 'no --from')
  t.equal((await cli(env, ['user', 'import', '--from', 'users.csv'])).code, 2, 'an unknown kind of source')
  const missing = await cli(env, ['user', 'import', '--from', join(tempDir(t), 'none.jsonl')])
  t.equal(missing.code, 1)
  t.match(missing.stderr, /cannot read .*none\.jsonl: ENOENT/)
  const badTable = await cli(env, ['user', 'import', '--from', `sqlite:${join(tempDir(t), 'x.db')}`, '--table', 'users; drop table users'])
  t.equal(badTable.code, 1)
  t.match(badTable.stderr, /--table must be a plain table name/)
})
