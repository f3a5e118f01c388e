/** `concord token hash`: the hash to declare under serve.tokens for an API token (read on stdin, or generated). */
import { randomBytes } from "node:crypto";
import { hashToken } from "../core/token-hash.js";
import { EXIT, UsageError } from "./errors.js";
import { type CliIo, processIo } from "./io.js";
import { jsonDoc } from "./json-doc.js";

export interface TokenHashOptions {
  /** Hash with scrypt (for a token a person chose) instead of SHA-256 (for a random one). */
  readonly scrypt?: boolean | undefined;
  /** Make a new random token and print it with its hash. */
  readonly generate?: boolean | undefined;
  readonly json?: boolean | undefined;
}

/** Reads stdin to its end (at most 4 KiB kept). */
async function readAll(io: CliIo): Promise<string> {
  const input = io.stdin?.();
  if (!input) return "";
  let text = "";
  for await (const chunk of input) {
    text += String(chunk);
    if (text.length > 4096) break;
  }
  return text;
}

/**
 * Prints the hash of the token given on stdin (its first line), or with --generate a new random token (32
 * bytes, base64url) and its hash. Only --generate ever prints a token: the one it just made, for its owner.
 */
export async function runTokenHash(options: TokenHashOptions, io: CliIo = processIo()): Promise<number> {
  let token: string;
  if (options.generate) token = randomBytes(32).toString("base64url");
  else {
    const input = io.stdin?.();
    if (!input || input.isTTY)
      throw new UsageError(
        'token hash: pipe the token on stdin (echo "$TOKEN" | concord token hash), or use --generate',
      );
    token = (await readAll(io)).split(/\r?\n/)[0]!.trim();
    if (token.length < 16)
      throw new UsageError("token hash: a token needs at least 16 characters (read on stdin)");
  }
  const hash = options.scrypt ? hashToken(token, "scrypt", randomBytes(16)) : hashToken(token, "sha256");
  if (options.json) {
    io.stdout.write(`${JSON.stringify(jsonDoc({ hash, ...(options.generate ? { token } : {}) }))}\n`);
  } else if (options.generate) {
    io.stdout.write(`token: ${token}\nhash:  ${hash}\n`);
    io.stderr.write("Give the token to its holder; put only the hash in serve.tokens.<name>.hash.\n");
  } else io.stdout.write(`${hash}\n`);
  return EXIT.ok;
}
