// gatehouse/resource-server: Gatehouse's access hooks for other Fastify services.
//   app.register(require('gatehouse/resource-server'), { jwksUrl, redisUrl })
// The module is the plugin itself (CommonJS `module.exports`), and `.default` is it too
// (fastify-plugin sets it), so require(), import and `import x = require()` all give the plugin.
import plugin from './plugin'
import type { ResourceServerOptionsInput } from './options'

declare namespace resourceServer {
  /** The plugin's options: `secret` or `jwksUrl`, one of the Redis settings, and the rest. */
  export type ResourceServerOptions = ResourceServerOptionsInput
}
const resourceServer = plugin as typeof plugin & { default: typeof plugin }

export = resourceServer
