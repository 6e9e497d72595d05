import { buildApp } from './app'
import { ConfigError, loadConfig } from './config'
import { readOrCreateSecret, KeyConfigError, loadSigning } from './tokens'

const SECRET_FILE = './data/jwt-secret'

// The only file that reads the environment and listens.
async function main (): Promise<void> {
  const config = loadConfig(process.env)
  let secretFile: { created: boolean } | undefined
  // HS256 without JWT_SECRET_KEY signs with a secret generated once and kept in a file.
  const signing = loadSigning(config.jwt, () => {
    if (config.jwtSecret !== undefined) return config.jwtSecret
    const kept = readOrCreateSecret(SECRET_FILE)
    secretFile = kept
    return kept.secret
  })
  const app = await buildApp({ ...config, signing })
  if (secretFile !== undefined) {
    app.log.warn({ file: SECRET_FILE, created: secretFile.created },
      'JWT_SECRET_KEY is not set: signing with the generated secret kept in the file; set JWT_SECRET_KEY in production')
  }
  if (signing.algorithm !== 'HS256') {
    app.log.info({ algorithm: signing.algorithm, kids: signing.keys.map((key) => key.kid) }, 'signing keys loaded')
  }

  const { drainMs, timeoutMs } = config.shutdown
  let stopping = false
  // Drain, then close: /health/ready turns 503 at once while requests are still served for
  // drainMs, so the proxy takes the instance out; then the listener closes, requests in flight
  // finish, and Redis and the database close. A shutdown that hangs is cut off after timeoutMs.
  function shutdown (signal: NodeJS.Signals): void {
    if (stopping) return
    stopping = true
    setTimeout(() => {
      app.log.error({ timeoutMs }, 'shutdown did not finish in time: exiting anyway')
      process.exit(1)
    }, timeoutMs)
    app.log.info({ signal, drainMs }, 'shutting down: draining')
    app.draining.start()
    setTimeout(() => {
      app.log.info('drained: closing the listener, finishing requests in flight')
      app.close().then(() => {
        app.log.info('shut down')
        process.exit(0)
      }, (error: unknown) => {
        app.log.error({ err: error }, 'shutdown failed')
        process.exit(1)
      })
    }, drainMs)
  }
  process.on('SIGINT', shutdown)
  process.on('SIGTERM', shutdown)
  // SIGHUP re-reads the signing keys (JWT_PRIVATE_KEY_FILE or JWT_KEYS_DIR), so a key added to
  // keys.json is published without a restart; a set that cannot work is refused and the old one kept.
  process.on('SIGHUP', () => {
    if (signing.algorithm === 'HS256') {
      app.log.warn('SIGHUP: HS256 signs with JWT_SECRET_KEY; there are no keys to reload')
      return
    }
    try {
      const reloaded = loadSigning(config.jwt, () => '')
      if (reloaded.algorithm === 'HS256') return
      app.tokens.reloadKeys(reloaded.keys)
      app.log.info({ kids: reloaded.keys.map((key) => key.kid) }, 'signing keys reloaded')
    } catch (error) {
      app.log.error({ reason: (error as Error).message }, 'signing keys not reloaded: keeping the loaded ones')
    }
  })
  await app.listen({ port: config.port, host: config.host })
  // METRICS_PORT: /metrics on a listener of its own, closed with the app.
  if (app.metrics.server !== undefined) {
    const url = await app.metrics.server.listen({ port: config.metrics.port, host: config.host })
    app.log.info({ url }, 'metrics listening')
  }
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError) {
    console.error(error.message)
  } else if (error instanceof KeyConfigError) {
    console.error(`Invalid signing keys: ${error.message}`)
  } else {
    console.error('Gatehouse failed to start:', error instanceof Error ? error.message : error)
  }
  process.exit(1)
})
