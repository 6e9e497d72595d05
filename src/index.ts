// The package's main module: Gatehouse as a plugin for a host Fastify application.
//   host.register(gatehouse, { prefix: '/auth', config: loadConfig(process.env) })
import { gatehouse } from './app'

export { gatehouse, serverOptions, type GatehouseOptions } from './app'
export { loadConfig, ConfigError, type Config } from './config'
export default gatehouse
