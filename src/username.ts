/**
 * The one spelling of a username that is stored and compared: trimmed, NFKC-normalised and
 * case-folded, so `Jose`, `jose` and the full-width `ｊｏｓｅ` are one account (OWASP: usernames
 * are case-insensitive). NFKC runs again after lower-casing, as folding can leave a string
 * that is no longer normalised.
 */
export function canonicalUsername (raw: string): string {
  return raw.trim().normalize('NFKC').toLowerCase().normalize('NFKC')
}
