import { type FastifyPluginAsyncTypebox, Type } from '@fastify/type-provider-typebox'
import { NotFound } from '../src/errors'
import { ErrorResponse, Item, ItemName, Message, Price } from '../src/schemas'

const Errors = { 400: ErrorResponse, 401: ErrorResponse, 403: ErrorResponse, 404: ErrorResponse, 409: ErrorResponse, 503: ErrorResponse }
const ItemParams = Type.Object({ name: ItemName })
const ItemBody = Type.Object({ price: Price })

const items: FastifyPluginAsyncTypebox = async function (fastify) {
  fastify.get('/items', {
    onRequest: fastify.optionalAccess,
    schema: {
      response: {
        200: Type.Union([
          Type.Object({ items: Type.Array(Item) }),
          Type.Object({ items: Type.Array(Type.String()), message: Type.String() })
        ]),
        ...Errors
      }
    }
  }, async function listItems (request) {
    if (request.user !== null) return { items: await fastify.items.list() }
    return { items: await fastify.items.listNames(), message: 'More data available if you log in.' }
  })

  fastify.get('/item/:name', {
    onRequest: fastify.requireAccess,
    schema: { params: ItemParams, response: { 200: Item, ...Errors } }
  }, async function getItem (request) {
    const item = await fastify.items.find(request.params.name)
    if (item === undefined) throw new NotFound('Item not found.')
    return item
  })

  fastify.post('/item/:name', {
    onRequest: fastify.requireFresh,
    schema: { params: ItemParams, body: ItemBody, response: { 201: Item, ...Errors } }
  }, async function createItem (request, reply) {
    return await reply.code(201).send(await fastify.items.create(request.params.name, request.body.price))
  })

  fastify.put('/item/:name', {
    onRequest: fastify.requireAccess,
    schema: { params: ItemParams, body: ItemBody, response: { 200: Item, 201: Item, ...Errors } }
  }, async function putItem (request, reply) {
    const { item, created } = await fastify.items.put(request.params.name, request.body.price)
    return await reply.code(created ? 201 : 200).send(item)
  })

  fastify.delete('/item/:name', {
    onRequest: fastify.requireAdmin,
    schema: { params: ItemParams, response: { 200: Message, ...Errors } }
  }, async function deleteItem (request) {
    if (!await fastify.items.delete(request.params.name)) throw new NotFound('Item not found.')
    return { message: 'Item deleted.' }
  })
}

export default items
