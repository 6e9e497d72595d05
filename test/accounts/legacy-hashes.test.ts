import t from 'tap'
import { buildTestApp } from '../helpers'

// Imported hashes (Werkzeug, bcrypt) at login: the right password passes once and is rehashed,
// anything else fails, and a doctored cost is refused rather than computed.
const PBKDF2 = 'pbkdf2:sha256:1000$LkKPowyvfnp4AZix$9bdb65a983451a4306e4754a3088a1828e99220ee5cfaf7df2cf51cdf1efd727'
const BCRYPT = '$2b$04$8f.Q8pe48RxruyTyCx9X7O8CuaaA9GCel5bUHE6Xop5jUBxxnxVHW'

t.test('legacy hashes at login', async (t) => {
  const app = await buildTestApp(t)
  const login = async (username: string, password: string) =>
    (await app.inject({ method: 'POST', url: '/login', payload: { username, password } })).statusCode
  const cases: Array<[string, string, string, number]> = [
    ['anna', PBKDF2, 'jose-old-pass', 200],
    ['anna2', PBKDF2, 'jose-old-passX', 401],
    ['bob', BCRYPT, 'bob-old-pass', 200],
    ['bob2', BCRYPT, 'bob-old-pas', 401],
    ['carl', PBKDF2.replace(':1000$', ':99999999$'), 'jose-old-pass', 401], // past the iteration bound
    ['dora', 'scrypt:1048576:64:64$salt$' + 'ab'.repeat(64), 'x', 401], // past the memory bound
    ['emil', 'scrypt:1000:8:1$salt$' + 'ab'.repeat(64), 'x', 401], // N not a power of two
    ['finn', PBKDF2.toUpperCase(), 'jose-old-pass', 401] // not a hash any tool writes
  ]
  for (const [username, hash, password, status] of cases) {
    const id = await app.users.create(username, hash)
    const started = Date.now()
    t.equal(await login(username, password), status, `${username}: ${status}`)
    t.ok(Date.now() - started < 5000, `${username}: answered without computing a doctored cost`)
    const stored = (await app.users.findById(id))!.password_hash
    if (status === 200) t.match(stored, /^\$argon2id\$/, `${username}: rehashed with argon2id`)
    else t.equal(stored, hash, `${username}: kept as it was`)
  }
})
