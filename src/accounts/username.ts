/**
 * The one spelling of a username that is stored and compared: trimmed, NFKC-normalised and
 * case-folded, so `Jose`, `jose` and the full-width `ｊｏｓｅ` are one account (OWASP: usernames
 * are case-insensitive). NFKC runs again after lower-casing, as folding can leave a string
 * that is no longer normalised.
 */
export function canonicalUsername (raw: string): string {
  return raw.trim().normalize('NFKC').toLowerCase().normalize('NFKC')
}

export const NEW_USERNAME_RULE = 'must have 3 to 64 characters once trimmed and normalised'

/**
 * The username a new account is stored under, or undefined when it breaks NEW_USERNAME_RULE: the
 * length is checked on the canonical form, which is what is stored. /register and the CLI alike.
 */
export function newAccountUsername (raw: string): string | undefined {
  const username = canonicalUsername(raw)
  return username.length >= 3 && username.length <= 64 ? username : undefined
}
