/** Removes credentials from URLs and messages before anything is printed or logged. */

/**
 * The URL with any password replaced by "***" (`postgres://u:secret@h/db` → `postgres://u:***@h/db`).
 * The password runs to the last '@' of the string: a password written unencoded may hold '@', '/', '?', '#'
 * or a space (`u:p@ss:w/rd?#@h`, `u:sp ace@h`, as `${PGPASSWORD}` interpolated into a URL can), and no part of
 * it shows; a URL parser would read such a URL otherwise, or refuse it, but the text is what gets printed.
 */
export function redactUrl(url: string): string {
  return (
    url
      .replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@\s]*):.*@/is, "$1:***@")
      // A credential in the query (`?password=`, `&sslpassword=`, `?access_token=`) runs to the next '&' or
      // '#': written unencoded it may hold a space, which the message-wide pattern below stops at.
      .replace(/([?&][^=&#]*(?:password|passwd|pwd|token)=)[^&#]*/gi, "$1***")
  );
}

/** Redacts every credential-bearing URL and `password=` pair inside a free-text message. */
export function redactText(text: string): string {
  return (
    text
      // Within a message a URL ends at whitespace: its password runs to the last '@' before it.
      .replace(/([a-z][a-z0-9+.-]*:\/\/[^:/@\s]*):\S*@/gi, "$1:***@")
      .replace(/(password|passwd|pwd|token)=([^&\s]+)/gi, "$1=***")
  );
}
