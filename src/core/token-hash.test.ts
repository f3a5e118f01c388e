import { describe, expect, it } from "vitest";
import { hashToken, parseTokenHash, tokenMatches } from "./token-hash.js";

const salt = Buffer.alloc(16, 7);

describe("token hashes", () => {
  it.each(["sha256", "scrypt"] as const)("%s: matches its token only", (kind) => {
    const text = hashToken("s3cret-token-0123456789", kind, salt);
    expect(text.startsWith(`${kind}:`)).toBe(true);
    expect(text).not.toContain("s3cret");
    const hash = parseTokenHash(text)!;
    expect(hash.kind).toBe(kind);
    expect(tokenMatches(hash, "s3cret-token-0123456789")).toBe(true);
    expect(tokenMatches(hash, "s3cret-token-0123456788")).toBe(false);
    expect(tokenMatches(hash, "")).toBe(false);
  });

  it("is the SHA-256 of the token, hex", () => {
    expect(hashToken("abc", "sha256")).toBe(
      "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    );
  });

  it.each([
    "s3cret-token",
    "sha256:abc",
    `sha256:${"A".repeat(64)}`,
    `scrypt:00:${"0".repeat(64)}`,
    `scrypt:${"0".repeat(32)}:${"0".repeat(63)}`,
    `md5:${"0".repeat(32)}`,
  ])("refuses %j", (text) => {
    expect(parseTokenHash(text)).toBeUndefined();
  });

  it("needs a salt for scrypt", () => {
    expect(() => hashToken("x", "scrypt")).toThrow(/salt/);
  });
});
