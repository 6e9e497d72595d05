import { type FastifyPluginAsyncTypebox, Type } from '@fastify/type-provider-typebox'
import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify'
import fastJson from 'fast-json-stringify'
import { NotFound, microCache, ErrorResponse, Item, ItemName, Message, Price } from '../src/http'

const Errors = { 400: ErrorResponse, 401: ErrorResponse, 403: ErrorResponse, 404: ErrorResponse, 409: ErrorResponse, 503: ErrorResponse }
const ItemParams = Type.Object({ name: ItemName })
const ItemBody = Type.Object({ price: Price })

// Pages keep a listing's cost bounded however many items there are. Query values are strings
// (nothing is coerced), so the patterns carry the bounds: limit 1–1000, after an item id.
const DEFAULT_PAGE_SIZE = 100
const ItemsQuery = Type.Object({
  limit: Type.Optional(Type.String({ pattern: '^(1000|[1-9][0-9]{0,2})$' })),
  after: Type.Optional(Type.String({ pattern: '^[0-9]{1,15}$' }))
})

const SignedInPage = Type.Object({ items: Type.Array(Item), next: Type.Optional(Type.String()) })
const AnonymousPage = Type.Object({ items: Type.Array(Type.String()), message: Type.String(), next: Type.Optional(Type.String()) })
// The route's response schema is the union of both pages (for the docs); serialising through the
// union would test every item against each branch, so each page has its own serializer.
const serializeSignedIn = fastJson(SignedInPage)
const serializeAnonymous = fastJson(AnonymousPage)
const asIs = (body: unknown): string => body as string
const JSON_TYPE = 'application/json; charset=utf-8'
const MAX_CACHED_PAGES = 1000

export interface ItemsRoutesOptions {
  /** How long a rendered anonymous page may be served again (0: never); writes here clear it. */
  anonymousPageCacheMs: number
}

/** Adds the link to the next page when the extra row shows there is one. */
function withNext<T extends object> (body: T, rows: Array<{ id: number }>, limit: number): T & { next?: string } {
  return rows.length > limit ? { ...body, next: `/items?after=${rows[limit - 1].id}&limit=${limit}` } : body
}

const items: FastifyPluginAsyncTypebox<ItemsRoutesOptions> = async function (fastify, { anonymousPageCacheMs }) {
  // Anonymous pages are public and the same for everyone: a microcache serves most of them from
  // memory. Another instance's writes show after at most anonymousPageCacheMs; this one's at once.
  const anonymousPages = microCache<string>(anonymousPageCacheMs, MAX_CACHED_PAGES)
  // On the write routes only, and synchronous: reads pay for no hook at all.
  function forgetPagesAfterWrite (_request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void {
    if (reply.statusCode < 300) anonymousPages.clear()
    done()
  }

  fastify.get('/items', {
    onRequest: fastify.optionalAccess,
    schema: {
      tags: ['items'],
      summary: 'List items, a page at a time: names for anonymous callers, full items when signed in',
      querystring: ItemsQuery,
      response: {
        200: Type.Union([SignedInPage, AnonymousPage]),
        ...Errors
      }
    }
  }, async function listItems (request, reply) {
    const after = Number(request.query.after ?? 0)
    const limit = Number(request.query.limit ?? DEFAULT_PAGE_SIZE)
    // A string payload would otherwise be sent as text/plain.
    reply.type(JSON_TYPE).serializer(asIs)
    // One row more than the page tells whether another page follows.
    if (request.user !== null) {
      const rows = await fastify.items.page(after, limit + 1)
      return serializeSignedIn(withNext({ items: rows.slice(0, limit) }, rows, limit))
    }
    const key = `${after}:${limit}`
    const now = Date.now()
    const cached = anonymousPages.get(key, now)
    if (cached !== undefined) return cached
    const rows = await fastify.items.namesPage(after, limit + 1)
    const page = serializeAnonymous(withNext({ items: rows.slice(0, limit).map((row) => row.name), message: 'More data available if you log in.' }, rows, limit))
    anonymousPages.set(key, page, now)
    return page
  })

  fastify.get('/item/:name', {
    onRequest: fastify.requireAccess,
    schema: {
      tags: ['items'],
      summary: 'Read an item',
      params: ItemParams, response: { 200: Item, ...Errors }
    }
  }, async function getItem (request) {
    const item = await fastify.items.find(request.params.name)
    if (item === undefined) throw new NotFound('Item not found.')
    return item
  })

  fastify.post('/item/:name', {
    onRequest: fastify.requireFresh,
    onResponse: forgetPagesAfterWrite,
    schema: {
      tags: ['items'],
      summary: 'Create an item',
      params: ItemParams, body: ItemBody, response: { 201: Item, ...Errors }
    }
  }, async function createItem (request, reply) {
    return await reply.code(201).send(await fastify.items.create(request.params.name, request.body.price))
  })

  fastify.put('/item/:name', {
    onRequest: fastify.requireAccess,
    onResponse: forgetPagesAfterWrite,
    schema: {
      tags: ['items'],
      summary: 'Create or update an item',
      params: ItemParams, body: ItemBody, response: { 200: Item, 201: Item, ...Errors }
    }
  }, async function putItem (request, reply) {
    const { item, created } = await fastify.items.put(request.params.name, request.body.price)
    return await reply.code(created ? 201 : 200).send(item)
  })

  fastify.delete('/item/:name', {
    onRequest: fastify.requireAdmin,
    onResponse: forgetPagesAfterWrite,
    schema: {
      tags: ['items'],
      summary: 'Delete an item (admins)',
      params: ItemParams, response: { 200: Message, ...Errors }
    }
  }, async function deleteItem (request) {
    if (!await fastify.items.delete(request.params.name)) throw new NotFound('Item not found.')
    return { message: 'Item deleted.' }
  })
}

export default items
