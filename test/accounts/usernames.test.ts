import t from 'tap'
import { hashPassword } from '../../src/accounts'
import { buildTestApp, SECRET, testDatabaseUrl } from '../helpers'
import { cli } from '../helpers/cli-process'

type App = Awaited<ReturnType<typeof buildTestApp>>
const PASSWORD = 'correct horse battery'

const register = async (app: App, username: string) =>
  await app.inject({ method: 'POST', url: '/register', payload: { username, password: PASSWORD } })
const login = async (app: App, username: string) =>
  await app.inject({ method: 'POST', url: '/login', payload: { username, password: PASSWORD } })

t.test('invisible, control and formatting characters are refused (400)', async (t) => {
  const app = await buildTestApp(t)
  t.equal((await register(app, 'admin')).statusCode, 201)
  for (const [what, name] of [
    ['a zero-width space (admin vs adm\\u200bin)', 'adm\u200bin'],
    ['a zero-width joiner', 'ad\u200dmin'],
    ['a right-to-left override', 'nimda\u202e'],
    ['bidi isolates', '\u2066admin\u2069'],
    ['a left-to-right mark', 'admin\u200e'],
    ['a C0 control (ESC)', 'bob\u001b[31m'],
    ['a C1 control (NEL)', 'bo\u0085b'],
    ['DEL', 'bob\u007f'],
    ['a soft hyphen (default ignorable)', 'ad\u00admin'],
    ['a variation selector (default ignorable)', 'admin\ufe0f'],
    ['a Hangul filler (default ignorable)', 'admin\u3164'],
    ['a tag character', 'admin\u{e0061}'],
    ['combining marks only', '\u0301\u0302\u0303'],
    ['a name starting with a combining mark', '\u0301abc'],
    ['right-to-left and left-to-right letters mixed', 'admin\u05d0\u05d1'],
    ['two spaces in a row', 'bob  smith'],
    ['an emoji', 'bob\u{1f600}'],
    ['a private-use character', 'bob\ue000']
  ]) {
    const answer = await register(app, name)
    t.equal(answer.statusCode, 400, `${what}: 400`)
    t.equal(answer.json().error, 'validation_error')
  }
  t.equal((await register(app, '\ufeffadmin\u00a0')).statusCode, 409, 'a BOM or no-break space at either end is trimmed: admin again')
})

t.test('letters of every script are accepted, with full case folding', async (t) => {
  const app = await buildTestApp(t)
  const strasse = await register(app, 'straße')
  t.equal(strasse.statusCode, 201, 'straße is accepted')
  t.equal((await register(app, 'STRASSE')).statusCode, 409, 'STRASSE is the same account')
  t.equal((await register(app, 'Strasse')).statusCode, 409)
  for (const spelling of ['straße', 'STRASSE', 'strasse', 'Straße', 'ＳＴＲＡＳＳＥ']) {
    const answer = await login(app, spelling)
    t.equal(answer.statusCode, 200, `${spelling} logs in`)
  }
  for (const name of ['Иван', '李小龍', 'محمد', 'שלום', 'Ελληνικά', 'e\u0301tienne', 'ﬁne', 'bob smith', 'user@example.com', 'ดวงใจ', 'देवनागरी']) {
    t.equal((await register(app, name)).statusCode, 201, `${name} is accepted`)
  }
  t.equal((await register(app, 'ΕΛΛΗΝΙΚΆ')).statusCode, 409, 'upper-case Greek is the same account')
  t.equal((await register(app, 'étienne')).statusCode, 409, 'é precomposed is e + U+0301')
  t.equal((await register(app, 'FINE')).statusCode, 409, 'the ﬁ ligature folds to fi')
})

t.test('accounts made before the rule keep logging in; the CLI lists them without raw controls', async (t) => {
  const databaseUrl = await testDatabaseUrl(t, 'sqlite')
  const app = await buildTestApp(t, { databaseUrl })
  const hash = await hashPassword(PASSWORD)
  // As the older rule stored them: NFKC and lower-casing only.
  const legacy = ['adm\u200bin', 'straße', 'evil\u001b[2j\u202etxt.exe', 'bo\u0085b']
  for (const name of legacy) await app.users.create(name, hash)
  for (const name of legacy) {
    const answer = await login(app, name)
    t.equal(answer.statusCode, 200, `${JSON.stringify(name)} still logs in`)
  }
  t.equal((await login(app, 'Straße')).statusCode, 200, 'in any case')
  t.equal((await register(app, 'straße')).statusCode, 409, 'its name, in its new spelling, is not free')
  t.equal((await register(app, 'admin')).statusCode, 201, 'admin without the invisible character is another name')

  const env = { DATABASE_URL: databaseUrl, JWT_SECRET_KEY: SECRET }
  const listed = await cli(env, ['user', 'list'])
  t.equal(listed.code, 0, listed.stderr)
  t.notMatch(listed.stdout, /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069]/, 'no raw control character in the listing')
  t.match(listed.stdout, 'adm\\u200bin', 'an invisible character is shown escaped')
  t.match(listed.stdout, 'evil\\u001b[2j\\u202etxt.exe')
  const json = await cli(env, ['user', 'list', '--json'])
  t.notMatch(json.stdout, /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e]/, 'nor in the JSON listing')
  t.same(JSON.parse(json.stdout).map((user: { username: string }) => user.username), [...legacy, 'admin'], 'which reads back the stored names')
  const deleted = await cli(env, ['user', 'delete', 'evil\u001b[2j\u202etxt.exe'])
  t.equal(deleted.code, 0, deleted.stderr)
  t.notMatch(deleted.stdout + deleted.stderr, /[\u001b\u202e]/, 'messages and audit lines escape them too')
})
