import { Type } from '@sinclair/typebox'

export const ErrorResponse = Type.Object({
  statusCode: Type.Integer(),
  error: Type.String({ description: 'Stable machine-readable code, snake_case' }),
  message: Type.String()
}, { $id: 'ErrorResponse' })

export const Message = Type.Object({ message: Type.String() })

/** A string the database stores or looks up. PostgreSQL text cannot hold NUL, so none may carry it. */
export const DatabaseText = (length: { minLength: number, maxLength: number }) =>
  Type.String({ ...length, pattern: '^[^\\u0000]*$' })

/** Any Unicode, never truncated: argon2 takes the whole of it. */
export const Password = Type.String({ minLength: 8, maxLength: 1024 })

export const Credentials = Type.Object({
  username: DatabaseText({ minLength: 3, maxLength: 64 }),
  password: Password
})

export const UserId = Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER })

/** A user id in a path: digits only, as path parameters are strings and nothing is coerced. */
export const UserIdParam = Type.String({ pattern: '^[1-9][0-9]{0,14}$' })

export const User = Type.Object({
  id: UserId,
  username: Type.String(),
  is_admin: Type.Boolean()
})

export const ItemName = DatabaseText({ minLength: 1, maxLength: 80 })

export const Price = Type.Number({ minimum: 0, maximum: 1e15 })

export const Item = Type.Object({
  id: Type.Integer(),
  name: Type.String(),
  price: Type.Number()
})

export const TokenPair = Type.Object({
  access_token: Type.String(),
  refresh_token: Type.String(),
  token_type: Type.Literal('Bearer'),
  expires_in: Type.Integer()
})

/**
 * What /login, /refresh and the password change answer when tokens live in cookies only
 * (JWT_TOKEN_LOCATION=cookies): no token in a body a page script could read, despite HttpOnly.
 */
export const CookieSession = Type.Object({ message: Type.String(), expires_in: Type.Integer() })

/** The error answers a token route may give. */
export const TokenRouteErrors = {
  400: ErrorResponse, 401: ErrorResponse, 403: ErrorResponse, 404: ErrorResponse, 409: ErrorResponse, 429: ErrorResponse, 503: ErrorResponse
}

/** Token responses must not be stored by any cache (RFC 6749 §5.1). */
export const NO_STORE = { 'cache-control': 'no-store', pragma: 'no-cache' }
