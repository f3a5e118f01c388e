import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { nameHash, RedisKeyCodec } from "./redis-key-codec.js";

describe("RedisKeyCodec", () => {
  it.each([
    { prefix: "customer:", key: ["42"], name: "customer:42" },
    { prefix: "customer:", key: ["a:b"], name: "customer:a:b" },
    { prefix: "customer:", key: ["back\\slash"], name: "customer:back\\slash" },
    { prefix: "", key: ["x"], name: "x" },
    { prefix: "order:", key: ["eu", "17"], name: "order:eu:17" },
    { prefix: "order:", key: ["a:b", "1"], name: "order:a\\:b:1" },
    { prefix: "order:", key: ["a\\", "1"], name: "order:a\\\\:1" },
    { prefix: "order:", key: ["", ""], name: "order::" },
    { prefix: "t:", key: ["x", ":", "\\:"], name: "t:x:\\::\\\\\\:" },
    // A NULL part of a composite key is `\N`; the text `\N` is `\\N`, the text "N" is N.
    { prefix: "order:", key: ["eu", null], name: "order:eu:\\N" },
    { prefix: "order:", key: [null, "7"], name: "order:\\N:7" },
    { prefix: "order:", key: [null, null], name: "order:\\N:\\N" },
    { prefix: "order:", key: ["\\N", "N"], name: "order:\\\\N:N" },
    { prefix: "order:", key: [null, ""], name: "order:\\N:" },
  ])("$key under $prefix is $name, and back", ({ prefix, key, name }) => {
    const codec = new RedisKeyCodec(prefix, key.length);
    expect(codec.encode(key)).toBe(name);
    expect(codec.decode(name)).toEqual(key);
  });

  it.each([
    { width: 1, name: "other:1", reason: /prefix/ },
    { width: 2, name: "order:eu", reason: /1 ':'-separated key part\(s\), the key has 2/ },
    { width: 2, name: "order:eu:1:2", reason: /3 ':'-separated/ },
    { width: 2, name: "order:eu\\x:1", reason: /escapes neither/ },
    { width: 2, name: "order:eu:1\\", reason: /escapes neither/ },
    { width: 2, name: "order:eu:x\\N", reason: /escapes neither/ },
    { width: 2, name: "order:\\Nx:1", reason: /escapes neither/ },
    { width: 3, name: "order:\\N:\\N", reason: /2 ':'-separated key part\(s\), the key has 3/ },
  ])("refuses $name for a key of $width part(s)", ({ width, name, reason }) => {
    const prefix = width === 1 ? "customer:" : "order:";
    const got = new RedisKeyCodec(prefix, width).decode(name);
    expect(typeof got).toBe("string");
    expect(got).toMatch(reason);
  });

  it("has no name for a NULL one-column key", () => {
    const codec = new RedisKeyCodec("customer:", 1);
    expect(codec.nameable([null])).toBe(false);
    expect(codec.nameable(["\\N"])).toBe(true);
    expect(() => codec.encode([null])).toThrow(/one-column key that is NULL has no Redis key name/);
  });

  it("round-trips any composite key, NULL parts included", () => {
    fc.assert(
      fc.property(
        fc.array(fc.option(fc.string({ unit: "grapheme" })), { minLength: 2, maxLength: 4 }),
        (key) => {
          const codec = new RedisKeyCodec("p:", key.length);
          expect(codec.decode(codec.encode(key))).toEqual(key);
        },
      ),
    );
  });

  it.each([
    { prefix: "customer:", pattern: "customer:*" },
    { prefix: "a*b?[c]\\:", pattern: "a\\*b\\?\\[c\\]\\\\:*" },
    { prefix: "", pattern: "*" },
  ])("matches everything under $prefix with $pattern", ({ prefix, pattern }) => {
    expect(new RedisKeyCodec(prefix, 1).pattern()).toBe(pattern);
  });
});

describe("nameHash", () => {
  it("is a stable 32-bit FNV-1a", () => {
    expect(nameHash("")).toBe(0x811c9dc5);
    expect(nameHash("a")).toBe(0xe40c292c);
    expect(nameHash("foobar")).toBe(0xbf9cf968);
  });
});
