// Controls (C0, C1), format and bidi controls, separators, private-use, unassigned and lone
// surrogate code points: a username made before the PRECIS rule may hold any of them, and printed raw
// they would move the cursor, recolour or reorder the terminal (U+001B, U+202E…).
const UNPRINTABLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Co}\p{Cn}\p{Cs}]/gu

const escape = (char: string): string =>
  Array.from({ length: char.length }, (_, index) => `\\u${char.charCodeAt(index).toString(16).padStart(4, '0')}`).join('')

/**
 * Text as the CLI may print it: every unprintable character written as its `\uXXXX` escape, which
 * is also what JSON reads back, so `user list --json` stays valid JSON of the same names. Line
 * breaks and tabs between lines and columns are the CLI's own, and kept.
 */
export function printable (text: string): string {
  return text.replace(UNPRINTABLE, (char) => char === '\n' || char === '\t' ? char : escape(char))
}
