/** Removes credentials from URLs and messages before anything is printed or logged. */

/**
 * The URL with any password replaced by "***" (`postgres://u:secret@h/db` → `postgres://u:***@h/db`).
 * The password runs to the last '@' of the authority, as URL parsers read it, so an unencoded '@' in a
 * password (`u:p@ss@h`) hides all of it; failing that, to the first '@'.
 */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@\s]*):(?:[^\s/?#]*|[^@\s]*)@/i, "$1:***@");
}

/** Redacts every credential-bearing URL and `password=` pair inside a free-text message. */
export function redactText(text: string): string {
  return text
    .replace(/([a-z][a-z0-9+.-]*:\/\/[^:/@\s]*):(?:[^\s/?#]*|[^@\s]*)@/gi, "$1:***@")
    .replace(/(password|passwd|pwd|token)=([^&\s]+)/gi, "$1=***");
}
