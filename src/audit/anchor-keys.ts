/** Loads the Ed25519 keys of audit anchoring from config (PEM text or a PEM file), with one-line errors naming the path. */
import { createPrivateKey, createPublicKey, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import { type AnchorConfig, ConfigError } from "../config/load-config.js";

function pemOf(value: string, path: string): string {
  if (value.trimStart().startsWith("-----BEGIN")) return value;
  try {
    return readFileSync(value, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? "unreadable";
    throw new ConfigError(`${path}: cannot read ${value} (${code})`);
  }
}

function ed25519(key: KeyObject, path: string, kind: string): KeyObject {
  if (key.asymmetricKeyType !== "ed25519")
    throw new ConfigError(`${path}: an Ed25519 ${kind} key is needed, this one is ${key.asymmetricKeyType}`);
  return key;
}

/** The public key that verifies anchors. Throws ConfigError naming `audit.anchor.publicKey`. */
export function loadVerifyKey(anchor: AnchorConfig): KeyObject {
  const path = "audit.anchor.publicKey";
  let key: KeyObject;
  try {
    key = createPublicKey(pemOf(anchor.publicKey, path));
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(`${path}: not a PEM public key (generate one with concord audit keygen)`);
  }
  return ed25519(key, path, "public");
}

/**
 * The key pair that signs anchors. Throws ConfigError naming `audit.anchor.privateKey` when it is not
 * configured, names an unset variable, is not an Ed25519 key, or does not match the public key (anchors
 * it signed would never verify).
 */
export function loadSigningKeys(anchor: AnchorConfig): { privateKey: KeyObject; publicKey: KeyObject } {
  const path = "audit.anchor.privateKey";
  if (anchor.privateKey === undefined) {
    throw new ConfigError(
      anchor.privateKeyVariable
        ? `${path}: environment variable ${anchor.privateKeyVariable} is not set`
        : `${path}: required to sign anchors (a PEM file, or the PEM text from \${VAR})`,
    );
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(pemOf(anchor.privateKey, path));
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(`${path}: not a PEM private key (generate one with concord audit keygen)`);
  }
  ed25519(privateKey, path, "private");
  const publicKey = loadVerifyKey(anchor);
  const derived = createPublicKey(privateKey).export({ type: "spki", format: "der" });
  if (!derived.equals(publicKey.export({ type: "spki", format: "der" })))
    throw new ConfigError(
      `${path}: does not match audit.anchor.publicKey (anchors it signed would not verify)`,
    );
  return { privateKey, publicKey };
}
