import { createHash } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type AuditEntry,
  type AuditEntryContent,
  type AuditEventType,
  canonicalJson,
  canonicalJsonByWalk,
  GENESIS_HASH,
  hashAuditEntry,
  verifyAuditChain,
  verifyAuditChainAsync,
} from "./audit-chain.js";

const TYPES: readonly AuditEventType[] = [
  "detected",
  "decided",
  "applied",
  "noop",
  "superseded",
  "failed",
  "escalated",
  "resolved",
  "rejected",
  "rolled-back",
  "guard",
  "alert",
];

/** Chains contents into entries, as a store appends them. */
function chain(contents: readonly Omit<AuditEntryContent, "seq">[]): AuditEntry[] {
  const out: AuditEntry[] = [];
  let prevHash = GENESIS_HASH;
  for (const [i, c] of contents.entries()) {
    const content = { ...c, seq: i + 1 };
    const hash = hashAuditEntry(prevHash, content);
    out.push({ ...content, prevHash, hash });
    prevHash = hash;
  }
  return out;
}

const event = (n: number, data: unknown = { n }): Omit<AuditEntryContent, "seq"> => ({
  ts: 1_700_000_000_000 + n,
  runId: "run-1",
  type: "applied",
  dataset: "users",
  key: `["${n}"]`,
  data,
});

const five = chain([1, 2, 3, 4, 5].map((n) => event(n)));
const at = (i: number): AuditEntry => five[i]!;

describe("canonicalJson", () => {
  it.each<[unknown, string]>([
    [{ b: 1, a: 2 }, '{"a":2,"b":1}'],
    // Names that look like array indexes sort as text too, not first as JavaScript enumerates them.
    [{ b: 1, 10: 2, 9: 3 }, '{"10":2,"9":3,"b":1}'],
    [{ é: 1, z: 2, Z: 3 }, '{"Z":3,"z":2,"é":1}'],
    [{ z: { y: 1, x: [{ d: 1, c: 2 }] } }, '{"z":{"x":[{"c":2,"d":1}],"y":1}}'],
    [{ a: undefined, b: null }, '{"b":null}'],
    [[undefined, () => 1, Number.NaN], "[null,null,null]"],
    [-0, "0"],
    [new Date(0), '"1970-01-01T00:00:00.000Z"'],
    ["é\n\u0000", JSON.stringify("é\n\u0000")],
    [undefined, "null"],
  ])("%j → %s", (value, text) => {
    expect(canonicalJson(value)).toBe(text);
  });

  it("throws on a bigint and on a cycle", () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => canonicalJson({ n: 1n })).toThrow(TypeError);
    expect(() => canonicalJson(cyclic)).toThrow(/cycle/);
  });

  it("equals a plain reference encoding and survives a JSON round trip", () => {
    // Sort every object's members, let JSON.stringify write the rest.
    const reference = (v: unknown): string =>
      Array.isArray(v)
        ? `[${v.map(reference).join(",")}]`
        : v !== null && typeof v === "object"
          ? `{${Object.keys(v)
              .sort()
              .map((k) => `${JSON.stringify(k)}:${reference((v as Record<string, unknown>)[k])}`)
              .join(",")}}`
          : JSON.stringify(v);
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const text = canonicalJson(value);
        expect(text).toBe(reference(value));
        expect(canonicalJson(JSON.parse(JSON.stringify(value)))).toBe(text);
        expect(canonicalJson(JSON.parse(text))).toBe(text);
      }),
    );
  });
});

describe("canonicalJson's native path", () => {
  /** The text, or the error's constructor and message. */
  const outcome = (encode: (v: unknown) => string, value: unknown): string => {
    try {
      return encode(value);
    } catch (err) {
      return `${(err as Error).constructor.name}: ${(err as Error).message}`;
    }
  };

  it.each<[string, unknown]>([
    ["a member named __proto__", JSON.parse('{"__proto__":{"b":1,"a":2},"z":[1]}')],
    ["index-like names beside others", { "!": 1, 10: 2, 9: 3, nested: [{ 2: 1, " ": 0 }] }],
    ["a boxed string, number and boolean", [Object("ab"), Object(1), Object(true)]],
    [
      "a boxed number and boolean alone (no member to send them to the walk)",
      [Object(0), { b: Object(false) }],
    ],
    [
      "objects already in order (used as is) around ones that are not",
      {
        a: { b: [{ y: 1, x: 2 }], c: 1 },
        b: null,
        c: undefined,
        d: Object.assign(Object.create(null), { e: 1 }),
      },
    ],
    [
      "an instance of a class, members in order",
      {
        a: new (class {
          x = 1;
          y = [2];
        })(),
      },
    ],
    [
      "holes, NaN, -0 and functions in an array",
      Object.assign(new Array(6), { 1: Number.NaN, 2: -0, 3: () => 1, 4: Symbol("s") }),
    ],
    ["a toJSON returning an object to sort", { when: { toJSON: () => ({ b: 1, a: [new Date(0)] }) } }],
    ["a member named toJSON that is not a function", { toJSON: { b: 1, a: 2 } }],
    ["a typed array and a Map", { t: new Uint8Array([3, 1]), m: new Map([[1, 2]]) }],
    ["a bigint deep inside", { a: [{ b: 1n }] }],
    [
      "a shared (not cyclic) object",
      (() => {
        const o = { b: 1, a: 2 };
        return [o, { o }];
      })(),
    ],
  ])("gives the walk's text or error for %s", (_, value) => {
    expect(outcome(canonicalJson, value)).toBe(outcome(canonicalJsonByWalk, value));
  });

  it("gives the walk's text or error for any value", () => {
    fc.assert(
      fc.property(
        fc.anything({
          withBigInt: true,
          withBoxedValues: true,
          withDate: true,
          withMap: true,
          withSet: true,
          withNullPrototype: true,
          withObjectString: true,
          withSparseArray: true,
          withTypedArray: true,
          withUnicodeString: true,
        }),
        (value) => {
          expect(outcome(canonicalJson, value)).toBe(outcome(canonicalJsonByWalk, value));
        },
      ),
      { numRuns: 2000 },
    );
  });
});

describe("hashAuditEntry", () => {
  it("is sha256 over prevHash, a newline and the canonical JSON of the content", () => {
    const content: AuditEntryContent = {
      seq: 1,
      ts: 5,
      runId: null,
      type: "alert",
      dataset: null,
      key: null,
      data: { b: 1, a: [1] },
    };
    const text = `${GENESIS_HASH}\n{"data":{"a":[1],"b":1},"dataset":null,"key":null,"runId":null,"seq":1,"ts":5,"type":"alert"}`;
    expect(hashAuditEntry(GENESIS_HASH, content)).toBe(
      createHash("sha256").update(text, "utf8").digest("hex"),
    );
    expect(GENESIS_HASH).toBe("0".repeat(64));
  });

  it("ignores prevHash and hash properties of the content and treats undefined data as null", () => {
    const content: AuditEntryContent = {
      seq: 3,
      ts: 1,
      runId: "r",
      type: "noop",
      dataset: "d",
      key: '["1"]',
      data: null,
    };
    const h = hashAuditEntry("a".repeat(64), content);
    expect(hashAuditEntry("a".repeat(64), { ...content, prevHash: "x", hash: "y" } as AuditEntry)).toBe(h);
    expect(hashAuditEntry("a".repeat(64), { ...content, data: undefined })).toBe(h);
    expect(hashAuditEntry("b".repeat(64), content)).not.toBe(h);
  });
});

describe("verifyAuditChain", () => {
  it.each<[string, AuditEntry[], ReturnType<typeof verifyAuditChain>]>([
    ["an empty chain", [], { ok: true, count: 0 }],
    ["an intact chain", five, { ok: true, count: 5 }],
    [
      "edited data",
      [at(0), at(1), { ...at(2), data: { n: 99 } }, at(3), at(4)],
      { ok: false, seq: 3, problem: "entry 3: content does not match its hash (edited)" },
    ],
    [
      "an edited hash",
      [at(0), { ...at(1), hash: "f".repeat(64) }, at(2)],
      { ok: false, seq: 2, problem: "entry 2: content does not match its hash (edited)" },
    ],
    [
      "an entry edited with its hash recomputed",
      [
        at(0),
        { ...at(1), type: "failed", hash: hashAuditEntry(at(0).hash, { ...at(1), type: "failed" }) },
        at(2),
      ],
      {
        ok: false,
        seq: 3,
        problem:
          "entry 3: previous hash does not match entry 2 (an entry was inserted, deleted or reordered)",
      },
    ],
    [
      "a deleted entry",
      [at(0), at(1), at(3), at(4)],
      { ok: false, seq: 4, problem: "entry 4: expected seq 3 (an entry was deleted or moved)" },
    ],
    [
      "a deleted first entry",
      [at(1), at(2)],
      { ok: false, seq: 2, problem: "entry 2: expected seq 1 (an entry was deleted or moved)" },
    ],
    [
      "a deleted entry with the rest renumbered",
      [at(0), { ...at(2), seq: 2 }],
      {
        ok: false,
        seq: 2,
        problem:
          "entry 2: previous hash does not match entry 1 (an entry was inserted, deleted or reordered)",
      },
    ],
    [
      "two entries swapped",
      [at(0), at(2), at(1), at(3)],
      { ok: false, seq: 3, problem: "entry 3: expected seq 2 (an entry was deleted or moved)" },
    ],
    [
      "a duplicated entry",
      [at(0), at(1), at(1)],
      { ok: false, seq: 2, problem: "entry 2: expected seq 3 (an entry was inserted, duplicated or moved)" },
    ],
    [
      "a replaced genesis link",
      [{ ...at(0), prevHash: "1".repeat(64) }],
      {
        ok: false,
        seq: 1,
        problem:
          "entry 1: previous hash is not the genesis hash (the first entry was replaced or the log was truncated at its start)",
      },
    ],
  ])("%s", (_name, entries, verdict) => {
    expect(verifyAuditChain(entries)).toEqual(verdict);
  });

  it("verifies an async stream the same way", async () => {
    async function* stream(entries: AuditEntry[]) {
      yield* entries;
    }
    await expect(verifyAuditChainAsync(stream(five))).resolves.toEqual({ ok: true, count: 5 });
    await expect(verifyAuditChainAsync(stream([at(0), at(2)]))).resolves.toMatchObject({ ok: false, seq: 3 });
  });
});

const contentArb: fc.Arbitrary<Omit<AuditEntryContent, "seq">> = fc.record({
  ts: fc.integer({ min: 0, max: 2 ** 45 }),
  runId: fc.option(fc.string(), { nil: null }),
  type: fc.constantFrom(...TYPES),
  dataset: fc.option(fc.string(), { nil: null }),
  key: fc.option(fc.string(), { nil: null }),
  data: fc.jsonValue(),
});

const chainArb = fc.array(contentArb, { minLength: 1, maxLength: 12 }).map(chain);

/** A changed value for one field of an entry: every result differs from the original once hashed. */
function edit(entry: AuditEntry, field: Exclude<keyof AuditEntry, "storedData">, salt: number): AuditEntry {
  const text = (s: string | null) => (s === null ? `x${salt}` : salt % 2 ? null : `${s}x`);
  switch (field) {
    case "seq":
      return { ...entry, seq: entry.seq + 1 + salt };
    case "ts":
      return { ...entry, ts: entry.ts + 1 + salt };
    case "runId":
      return { ...entry, runId: text(entry.runId) };
    case "dataset":
      return { ...entry, dataset: text(entry.dataset) };
    case "key":
      return { ...entry, key: text(entry.key) };
    case "type":
      return { ...entry, type: TYPES[(TYPES.indexOf(entry.type) + 1 + (salt % 11)) % TYPES.length]! };
    case "data":
      return { ...entry, data: salt % 2 ? { was: entry.data } : [entry.data] };
    case "prevHash":
      return { ...entry, prevHash: flipHex(entry.prevHash, salt) };
    case "hash":
      return { ...entry, hash: flipHex(entry.hash, salt) };
  }
}

function flipHex(hex: string, salt: number): string {
  const i = salt % hex.length;
  return hex.slice(0, i) + (hex[i] === "0" ? "1" : "0") + hex.slice(i + 1);
}

const FIELDS: readonly Exclude<keyof AuditEntry, "storedData">[] = [
  "seq",
  "ts",
  "runId",
  "type",
  "dataset",
  "key",
  "data",
  "prevHash",
  "hash",
];

describe("verifyAuditChain: properties", () => {
  it("an untouched chain verifies", () => {
    fc.assert(
      fc.property(chainArb, (entries) => {
        expect(verifyAuditChain(entries)).toEqual({ ok: true, count: entries.length });
      }),
    );
  });

  it("any single edit of any field is reported at the edited entry", () => {
    fc.assert(
      fc.property(
        chainArb,
        fc.nat(),
        fc.constantFrom(...FIELDS),
        fc.nat(1000),
        (entries, pick, field, salt) => {
          const i = pick % entries.length;
          const edited = edit(entries[i]!, field, salt);
          const tampered = entries.with(i, edited);
          expect(verifyAuditChain(tampered)).toMatchObject({ ok: false, seq: edited.seq });
        },
      ),
    );
  });

  it("a forged entry inserted anywhere, naive or correctly linked, is detected", () => {
    fc.assert(
      fc.property(chainArb, fc.nat(), contentArb, fc.boolean(), (entries, pick, forged, linked) => {
        // Appending a correctly linked entry at the end is an ordinary append, so a linked forgery goes before the last entry.
        const i = linked ? pick % entries.length : pick % (entries.length + 1);
        const seq = i + 1;
        const prevHash = linked ? (entries[i - 1]?.hash ?? GENESIS_HASH) : "e".repeat(64);
        const entry: AuditEntry = {
          ...forged,
          seq,
          prevHash,
          hash: hashAuditEntry(prevHash, { ...forged, seq }),
        };
        const tampered = [...entries.slice(0, i), entry, ...entries.slice(i)];
        // A naive forgery is reported itself; a linked one passes, but the entry it displaced (same seq) does not.
        const verdict = verifyAuditChain(tampered);
        expect(verdict).toMatchObject({ ok: false, seq });
        if (!verdict.ok) expect(verdict.problem.startsWith(`entry ${seq}: `)).toBe(true);
      }),
    );
  });

  it("a deleted entry other than the last is reported at the entry after it", () => {
    fc.assert(
      fc.property(
        chainArb.filter((c) => c.length >= 2),
        fc.nat(),
        (entries, pick) => {
          const i = pick % (entries.length - 1);
          const tampered = entries.toSpliced(i, 1);
          expect(verifyAuditChain(tampered)).toMatchObject({ ok: false, seq: i + 2 });
        },
      ),
    );
  });

  it("a swap of two entries is reported at the first position swapped", () => {
    fc.assert(
      fc.property(
        chainArb.filter((c) => c.length >= 2),
        fc.nat(),
        fc.nat(),
        (entries, a, b) => {
          const i = a % entries.length;
          const j = b % entries.length;
          fc.pre(i !== j);
          const [lo, hi] = i < j ? [i, j] : [j, i];
          const tampered = entries.with(lo, entries[hi]!).with(hi, entries[lo]!);
          expect(verifyAuditChain(tampered)).toMatchObject({ ok: false, seq: hi + 1 });
        },
      ),
    );
  });
});
