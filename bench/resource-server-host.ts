import Fastify from 'fastify'
import resourceServer from '../src/resource-server'

// Someone else's service protected by gatehouse/resource-server, for `npm run bench`: the same
// handler behind the plugin's requireAccess and without it, so the ratio is the plugin's cost.
const app = Fastify({ logger: false })
const env = process.env
void app.register(resourceServer, {
  ...(env.JWKS_URL !== undefined ? { jwksUrl: env.JWKS_URL } : { secret: env.JWT_SECRET_KEY }),
  redisUrl: env.REDIS_URL,
  redisKeyPrefix: env.REDIS_KEY_PREFIX,
  revocationMode: env.REVOCATION_MODE === 'mirror' ? 'mirror' : 'strict'
})
void app.register(async function routes (app) {
  const item = { name: 'crate', price: 12.5 }
  app.get('/open', async () => item)
  app.get('/protected', { onRequest: app.requireAccess }, async () => item)
})
app.listen({ port: Number(env.PORT ?? 0), host: env.HOST ?? '127.0.0.1' }).catch((error: unknown) => {
  console.error(error)
  process.exit(1)
})
process.once('SIGTERM', () => { void app.close().then(() => process.exit(0)) })
