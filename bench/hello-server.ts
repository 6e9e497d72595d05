import Fastify from 'fastify'

// The yardstick: a bare Fastify hello route, started by the benchmark beside the service.
const app = Fastify({ logger: false })
app.get('/', async () => ({ hello: 'world' }))
app.listen({ port: Number(process.env.PORT ?? 0), host: process.env.HOST ?? '127.0.0.1' }).catch((error: unknown) => {
  console.error(error)
  process.exit(1)
})
process.once('SIGTERM', () => { void app.close().then(() => process.exit(0)) })
