/** What a store URL in the config must hold beyond being a URL: checks made on load, naming what is wrong. */
import { credentialsCutShort } from "./redact.js";

/** Why a URL whose password holds '/', '?' or '#' unencoded is refused (`credentialsCutShort`). */
const CUT_SHORT =
  "the password holds '/', '?' or '#' before its '@', unencoded, so the host would be read from inside it: percent-encode them (%2F, %3F, %23)";

/** Why a replica's or the state store's URL is refused on load (`credentialsCutShort`, `serverUrlProblem`). */
export function storeUrlProblem(url: string): string | undefined {
  return credentialsCutShort(url) ? CUT_SHORT : serverUrlProblem(url);
}

/** The query parameters the MariaDB/MySQL connector reads (connectors/mysql): any other is not used. */
const MYSQL_PARAMS = ["connectTimeout", "queryTimeout", "socket", "ssl"];

/**
 * Why a server store's URL cannot mean what it says, or undefined: port 0 (drivers take it for their default
 * port, so another server than the one written is reached), or for MariaDB/MySQL a query parameter the
 * connector does not read (`?sslmode=require` would connect without TLS, silently), an `ssl` other than true or
 * false, or a timeout that is not a positive number of milliseconds. A URL no parser reads is left to the
 * connector, which names it.
 */
export function serverUrlProblem(url: string): string | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return undefined;
  }
  const scheme = u.protocol.slice(0, -1).toLowerCase();
  if (!["postgres", "postgresql", "mysql", "mariadb", "redis", "rediss"].includes(scheme)) return undefined;
  if (u.port === "0") return "port 0: expected a port from 1 to 65535 (or none, for the default)";
  if (scheme !== "mysql" && scheme !== "mariadb") return undefined;
  for (const [name, value] of u.searchParams) {
    if (!MYSQL_PARAMS.includes(name))
      return `?${name}: not a parameter a MariaDB/MySQL URL takes (${MYSQL_PARAMS.join(", ")})`;
    if (name === "ssl" && value !== "true" && value !== "false")
      return `?ssl=${value}: expected ssl=true (TLS, the server's certificate verified) or ssl=false`;
    if ((name === "connectTimeout" || name === "queryTimeout") && !/^[1-9]\d*$/.test(value))
      return `?${name}=${value}: expected a positive whole number of milliseconds`;
  }
  return undefined;
}
