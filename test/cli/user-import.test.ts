import t from 'tap'
import { importAndCheck } from '../helpers/user-import'
import { DATABASE_KINDS } from '../helpers'

type Test = tap.Test

// From a Flask app's database. From JSON lines, and wrong usage, in user-import-jsonl.test.ts.
for (const database of DATABASE_KINDS) {
  t.test(`from ${database} into ${database}`, async (t: Test) => { await importAndCheck(t, database, database) })
}
