/** Generates an Ed25519 key pair for audit anchors (`concord audit keygen`). */
import { generateKeyPairSync } from "node:crypto";
import { existsSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { anchorKeyId } from "../core/audit-anchor.js";
import { makeDirs } from "../runtime/make-dirs.js";

/** The files written and the key's id (as anchors name it). */
export interface GeneratedAnchorKeys {
  readonly privateKeyPath: string;
  readonly publicKeyPath: string;
  readonly keyId: string;
}

/**
 * Writes `audit-anchor.key` (PKCS#8 PEM, mode 0600) and `audit-anchor.pub` (SPKI PEM) into `dir`
 * (created if needed). Never overwrites: an existing file is an error (EEXIST), since replacing a
 * signing key silently would orphan every anchor it signed.
 */
export function generateAnchorKeys(dir: string): GeneratedAnchorKeys {
  const privateKeyPath = join(resolve(dir), "audit-anchor.key");
  const publicKeyPath = join(resolve(dir), "audit-anchor.pub");
  for (const path of [privateKeyPath, publicKeyPath])
    if (existsSync(path)) throw new Error(`${path} exists; keygen never replaces a key`);
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  makeDirs(dir);
  writeFileSync(privateKeyPath, privateKey.export({ type: "pkcs8", format: "pem" }), {
    flag: "wx",
    mode: 0o600,
  });
  writeFileSync(publicKeyPath, publicKey.export({ type: "spki", format: "pem" }), {
    flag: "wx",
    mode: 0o644,
  });
  return { privateKeyPath, publicKeyPath, keyId: anchorKeyId(publicKey) };
}
