/**
 * Usernames follow RFC 8265's UsernameCaseMapped profile, in a stricter subset (docs/security.md):
 * the stored and compared spelling is the name NFKC-normalised (full-width `ｊｏｓｅ` is `jose`),
 * fully case-folded (`Jose` is `jose`, `STRASSE` is `straße` is `strasse`) and normalised again.
 */
export function canonicalUsername (raw: string): string {
  let name = raw.trim().normalize('NFKC')
  // Full case folding: upper-casing first makes the special foldings (ß → SS → ss, ſ → S → s,
  // ﬁ → FI → fi) that lower-casing alone misses. Repeated until it settles, so it is idempotent.
  for (let round = 0; round < 3; round++) {
    const folded = name.toUpperCase().toLowerCase().normalize('NFKC')
    if (folded === name) break
    name = folded
  }
  return name
}

/**
 * The spelling accounts made before the PRECIS rule were stored under: NFKC and lower-casing only.
 * Those accounts keep their stored names, whatever the new rule says of them, and keep logging in.
 */
export function legacyCanonicalUsername (raw: string): string {
  return raw.trim().normalize('NFKC').toLowerCase().normalize('NFKC')
}

/**
 * The stored names a login name may match, the pre-PRECIS spelling first: an account made before
 * the rule is found under the name it was stored with, any other under its canonical name.
 */
export function usernameSpellings (raw: string): string[] {
  const legacy = legacyCanonicalUsername(raw)
  const canonical = canonicalUsername(raw)
  return legacy === canonical ? [canonical] : [legacy, canonical]
}

export const NEW_USERNAME_RULE = 'must have 3 to 64 characters once normalised: letters, combining marks and digits of any ' +
  'script, ASCII punctuation and single spaces, not starting with a combining mark, not mixing right-to-left ' +
  'and left-to-right letters; no control, invisible, formatting or other characters'

// IdentifierClass's letters and digits (RFC 8264 §9.1: Ll, Lu, Lo, Lm, Mn, Mc, Nd; Lt and Lu are
// gone after case folding), ASCII's printable characters and the space that separates userparts
// (RFC 8265 §3.3.1). Everything else is refused, among it what makes two names look alike or
// a terminal misbehave: controls (C0, C1), format and bidi controls (U+200B, U+202E…), default
// ignorable code points, tag characters, unassigned and private-use code points, symbols.
const ALLOWED = /^(?:[\p{Ll}\p{Lo}\p{Lm}\p{Mn}\p{Mc}\p{Nd}\x21-\x7e]| (?! ))+$/u
const INVISIBLE = /[\p{Default_Ignorable_Code_Point}\p{Cc}\p{Cf}\p{Cn}\p{Co}\p{Cs}]/u
const STARTS_WITH_MARK = /^\p{M}/u
// RFC 5893's Bidi Rule, in short: a name's letters run one way.
const RIGHT_TO_LEFT = /[\p{Script=Hebrew}\p{Script=Arabic}\p{Script=Syriac}\p{Script=Thaana}\p{Script=Nko}\p{Script=Samaritan}\p{Script=Mandaic}\p{Script=Adlam}]/u
const LEFT_TO_RIGHT = /(?![\p{Script=Hebrew}\p{Script=Arabic}\p{Script=Syriac}\p{Script=Thaana}\p{Script=Nko}\p{Script=Samaritan}\p{Script=Mandaic}\p{Script=Adlam}])\p{L}/u

/**
 * The username a new account is stored under, or undefined when it breaks NEW_USERNAME_RULE: checked
 * on the canonical form, which is what is stored. /register and the CLI alike.
 */
export function newAccountUsername (raw: string): string | undefined {
  const username = canonicalUsername(raw)
  if (username.length < 3 || username.length > 64) return undefined
  if (!ALLOWED.test(username) || INVISIBLE.test(username) || STARTS_WITH_MARK.test(username)) return undefined
  if (RIGHT_TO_LEFT.test(username) && LEFT_TO_RIGHT.test(username)) return undefined
  return username
}
