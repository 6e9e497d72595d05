import closeWithGrace from 'close-with-grace'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { buildApp } from './app'
import { ConfigError, environment, loadConfig } from './config'
import { readOrCreateSecret, KeyConfigError, loadSigning } from './tokens'

// A second stop signal this soon after the first is the same request twice: a terminal's Ctrl-C
// reaches both `npm start` and node, and npm forwards it to node again; systemd signals every
// process of the unit. A later one is someone insisting: exit at once.
const SAME_SIGNAL_MS = 500

// The only file that reads the environment and listens.
async function main (): Promise<void> {
  const config = loadConfig(environment())
  const secretFileName = join(config.dataDir, 'jwt-secret')
  let secretFile: { created: boolean } | undefined
  // HS256 without JWT_SECRET_KEY signs with a secret generated once and kept in a file.
  const signing = loadSigning(config.jwt, () => {
    if (config.jwtSecret !== undefined) return config.jwtSecret
    const kept = readOrCreateSecret(secretFileName)
    secretFile = kept
    return kept.secret
  })
  const logger = config.logFormat === 'pretty'
    ? { level: config.logLevel, transport: { target: 'pino-pretty', options: { sync: true } } }
    : { level: config.logLevel }
  const app = await buildApp({ ...config, signing }, { logger })
  if (secretFile !== undefined) {
    app.log.warn({ file: secretFileName, created: secretFile.created },
      'JWT_SECRET_KEY is not set: signing with the generated secret kept in the file; set JWT_SECRET_KEY in production')
  }
  if (signing.algorithm !== 'HS256') {
    app.log.info({ algorithm: signing.algorithm, kids: signing.keys.map((key) => key.kid) }, 'signing keys loaded')
  }

  const { drainMs, timeoutMs } = config.shutdown
  // Drain, then close: /health/ready turns 503 at once while requests are still served for
  // drainMs, so the proxy takes the instance out; then the listener closes, requests in flight
  // finish, and Redis and the database close. A shutdown that hangs is cut off after timeoutMs.
  // An uncaught exception or rejection is logged and closes the same way, without the drain.
  let stopSignal: NodeJS.Signals | undefined
  const closer = closeWithGrace({
    delay: timeoutMs,
    logger: false,
    // SIGINT and SIGTERM are handled below; SIGHUP reloads keys.
    skip: ['SIGINT', 'SIGTERM', 'SIGHUP'],
    onTimeout: () => { app.log.error({ timeoutMs }, 'shutdown did not finish in time: exiting anyway') },
    onSecondError: (error) => { app.log.fatal({ err: error }, 'uncaught error while shutting down: exiting at once') }
  }, async ({ err, signal }) => {
    if (err !== undefined) {
      app.log.fatal({ err }, 'uncaught error: shutting down')
    } else {
      app.log.info({ signal: stopSignal ?? signal, drainMs }, 'shutting down: draining')
      app.draining.start()
      await sleep(drainMs)
      app.log.info('drained: closing the listener, finishing requests in flight')
    }
    try {
      await app.close()
    } catch (error) {
      app.log.error({ err: error }, 'shutdown failed')
      throw error
    }
    app.log.info('shut down')
  })
  let firstSignalAt: number | undefined
  function stop (signal: NodeJS.Signals): void {
    if (firstSignalAt === undefined) {
      firstSignalAt = Date.now()
      stopSignal = signal
      void closer.close()
    } else if (Date.now() - firstSignalAt >= SAME_SIGNAL_MS) {
      app.log.warn({ signal }, 'second stop signal: exiting at once')
      process.exit(1)
    }
  }
  process.on('SIGINT', stop)
  process.on('SIGTERM', stop)
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
