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

/**
 * Redacts every credential-bearing URL and `password=` pair inside a free-text message, then every secret
 * remembered (`rememberSecret`, `rememberUrlSecrets`) wherever it stands: a driver's message may quote a
 * password alone, or a URL whose password holds a space the URL pattern stops at.
 */
export function redactText(text: string): string {
  let out = text
    // Within a message a URL ends at whitespace: its password runs to the last '@' before it.
    .replace(/([a-z][a-z0-9+.-]*:\/\/[^:/@\s]*):\S*@/gi, "$1:***@")
    .replace(/(password|passwd|pwd|token)=([^&\s]+)/gi, "$1=***");
  for (const secret of secretsLongestFirst) if (out.includes(secret)) out = out.split(secret).join("***");
  return out;
}

/**
 * Secrets shorter than this are not searched for in messages: blanking every "ab" of a message would make it
 * unreadable, and so short a secret is no secret.
 */
const SHORTEST_SECRET = 4;
const secrets = new Set<string>();
let secretsLongestFirst: string[] = [];

/**
 * Remembers a configured secret (a password, a token, a key), in the forms a message may quote it (as
 * written, percent-decoded, percent-encoded), so that `redactText` blanks it wherever it appears. For the
 * process's life: config reloads only add.
 */
export function rememberSecret(value: string | undefined | null): void {
  if (!value) return;
  const forms = [value, value.trim(), encodeURIComponent(value)];
  try {
    forms.push(decodeURIComponent(value));
  } catch {
    // not percent-encoded text
  }
  let added = false;
  for (const f of forms)
    if (f.length >= SHORTEST_SECRET && !secrets.has(f)) {
      secrets.add(f);
      added = true;
    }
  if (added) secretsLongestFirst = [...secrets].sort((a, b) => b.length - a.length);
}

/**
 * Remembers the credentials of a URL: its password as written (to the last '@', as `redactUrl` reads it) and
 * as a URL parser reads it, and every credential in its query (`?password=`, `&sslpassword=`, `?token=`).
 */
export function rememberUrlSecrets(url: string): void {
  rememberSecret(/^[a-z][a-z0-9+.-]*:\/\/[^:/@\s]*:(.*)@/is.exec(url)?.[1]);
  try {
    rememberSecret(new URL(url).password);
  } catch {
    // not a URL a parser reads: the pattern above took what it could
  }
  for (const m of url.matchAll(/[?&][^=&#]*(?:password|passwd|pwd|token)=([^&#]*)/gi)) rememberSecret(m[1]);
}

/** The environment variables drivers or Concord read secrets from; their values are remembered too. */
export const SECRET_VARIABLES = [
  "PGPASSWORD",
  "MYSQL_PWD",
  "REDISCLI_AUTH",
  "CONCORD_TOKEN",
  "CONCORD_HINTS_TOKEN",
];

/**
 * Remembers every secret a config (as read, `${VAR}`s interpolated, not yet validated) and the environment
 * hold: the credentials of the state, queue, replica and webhook URLs, the API tokens, an anchor key given as
 * text, and the variables drivers read passwords from (PGPASSWORD, …).
 */
export function rememberConfigSecrets(raw: unknown, env: Readonly<Record<string, string | undefined>>): void {
  for (const name of SECRET_VARIABLES) rememberSecret(env[name]);
  if (env.CONCORD_QUEUE) rememberUrlSecrets(env.CONCORD_QUEUE);
  const text = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);
  const doc = (raw ?? {}) as Record<string, unknown>;
  const field = (o: unknown, k: string): unknown =>
    o !== null && typeof o === "object" && !Array.isArray(o) ? (o as Record<string, unknown>)[k] : undefined;
  for (const url of [text(doc.state), text(doc.queue)]) if (url) rememberUrlSecrets(url);
  const datasets = field(doc, "datasets");
  if (datasets && typeof datasets === "object")
    for (const ds of Object.values(datasets)) {
      const replicas = field(ds, "replicas");
      if (replicas && typeof replicas === "object")
        for (const r of Object.values(replicas)) {
          const url = text(field(r, "url"));
          if (url) rememberUrlSecrets(url);
        }
    }
  rememberSecret(text(field(doc.serve, "token")));
  rememberSecret(text(field(doc.serve, "hintsToken")));
  const key = text(field(field(doc.audit, "anchor"), "privateKey"));
  if (key?.trimStart().startsWith("-----BEGIN"))
    for (const line of key.split("\n"))
      if (!line.startsWith("-----") && line.trim()) rememberSecret(line.trim());
  const alerts = doc.alerts;
  if (Array.isArray(alerts))
    for (const a of alerts) {
      const url = text(field(a, "webhook"));
      if (url) rememberUrlSecrets(url);
    }
}

/**
 * True when a URL's password (or user) holds '/', '?' or '#' unencoded before an '@': a URL parser (and so
 * the driver) ends the host at that character, so it reads a host out of the password (`u:a@b/c@db/app`
 * connects to host b as password a) and a driver's message about that host quotes part of the password.
 * Only where the parser does find credentials (an '@' in the path or query of a URL without any is left alone).
 */
export function credentialsCutShort(url: string): boolean {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return false;
  }
  if (!parsed.username && !parsed.password) return false;
  const start = url.indexOf("//");
  if (start < 0) return false;
  const authorityEnd = url.slice(start + 2).search(/[/?#]/);
  return authorityEnd >= 0 && url.indexOf("@", start + 2 + authorityEnd) >= 0;
}
