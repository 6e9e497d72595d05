/**
 * The account id a verified token names, or undefined when its `sub` is no id of ours (a foreign
 * token, a Flask identity that is not a number): such a token has no account, so no sessions.
 */
export function accountIdOf (claims: { sub: string }): number | undefined {
  return /^[1-9][0-9]{0,14}$/.test(claims.sub) ? Number(claims.sub) : undefined
}
