import { buildApp } from './app'
import { ConfigError, loadConfig } from './config'
import { readOrCreateSecret } from './secret-file'

const SECRET_FILE = './data/jwt-secret'

// The only file that reads the environment and listens.
async function main (): Promise<void> {
  const config = loadConfig(process.env)
  const secret = config.jwtSecret ?? readOrCreateSecret(SECRET_FILE)
  const app = await buildApp({ ...config, jwtSecret: typeof secret === 'string' ? secret : secret.secret })
  if (typeof secret !== 'string') {
    app.log.warn({ file: SECRET_FILE, created: secret.created },
      'JWT_SECRET_KEY is not set: signing with the generated secret kept in the file; set JWT_SECRET_KEY in production')
  }

  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      app.log.info({ signal }, 'shutting down')
      app.close().then(() => process.exit(0), (error: unknown) => {
        app.log.error({ err: error }, 'shutdown failed')
        process.exit(1)
      })
    })
  }
  await app.listen({ port: config.port, host: config.host })
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError) {
    console.error(error.message)
  } else {
    console.error('Gatehouse failed to start:', error instanceof Error ? error.message : error)
  }
  process.exit(1)
})
