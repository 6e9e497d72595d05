/**
 * An account is an admin when its own `is_admin` flag is set: only an operator's act on an existing
 * account sets it (`gatehouse user create --admin`, `gatehouse user set-admin`). Never a name or an
 * id: a name can be registered again after its account is deleted, and the first account of a
 * fresh install is whoever registers first. Read from the account, so a change counts at once.
 */
export function isAdminAccount (user: { is_admin: boolean }): boolean {
  return user.is_admin
}
