import { createConnection, createServer, type Server, type Socket } from 'node:net'

import type {} from 'tap'

type Test = tap.Test

/**
 * A TCP relay on a loopback port to a real server, for outages a shared server cannot be put
 * through: `stop` cuts every relayed connection and refuses new ones, `start` relays again on the
 * same port. Closed when the test ends.
 */
export interface TcpProxy {
  port: number
  stop: () => Promise<void>
  start: () => Promise<void>
}

export async function startTcpProxy (t: Test, target: { host: string, port: number }): Promise<TcpProxy> {
  const sockets = new Set<Socket>()
  const track = (socket: Socket): void => {
    sockets.add(socket)
    socket.on('error', () => {})
    socket.on('close', () => { sockets.delete(socket) })
  }
  let server: Server | undefined
  let port = 0

  async function start (): Promise<void> {
    const listening = createServer((client) => {
      const upstream = createConnection(target)
      track(client)
      track(upstream)
      client.pipe(upstream).pipe(client)
      // Either side closing closes the other, as a broken network path would.
      client.on('close', () => { upstream.destroy() })
      upstream.on('close', () => { client.destroy() })
    })
    await new Promise<void>((resolve, reject) => {
      listening.once('error', reject)
      listening.listen(port, '127.0.0.1', () => { resolve() })
    })
    const address = listening.address()
    if (address === null || typeof address === 'string') throw new Error('the proxy has no port')
    port = address.port
    server = listening
  }

  async function stop (): Promise<void> {
    const closing = server
    server = undefined
    for (const socket of sockets) socket.destroy()
    if (closing !== undefined) await new Promise((resolve) => { closing.close(resolve) })
  }

  await start()
  t.teardown(stop)
  return {
    get port () { return port },
    stop,
    start
  }
}
