/**
 * An account is an admin when its own `is_admin` flag is set (`gatehouse user set-admin`) or
 * ADMIN_USERNAMES names it. Either way it is read from the account, so a change counts at once.
 */
export function isAdminAccount (user: { username: string, is_admin: boolean }, adminUsernames: ReadonlySet<string>): boolean {
  return user.is_admin || adminUsernames.has(user.username)
}
