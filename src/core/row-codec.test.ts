import { describe, expect, it } from "vitest";
import type { CanonicalValue } from "./canonical.js";
import { fingerprintRow } from "./fingerprint.js";
import type { RecordShape } from "./model.js";
import { RowCodec, RowError } from "./row-codec.js";

const SHAPE: RecordShape = {
  key: [
    { name: "tenant", type: "text" },
    { name: "id", type: "integer" },
  ],
  columns: [
    { name: "price", type: "decimal" },
    { name: "active", type: "boolean" },
    { name: "updated_at", type: "timestamp" },
  ],
};
const codec = new RowCodec(SHAPE);

describe("RowCodec", () => {
  it("has the shape's widths", () => {
    expect([codec.keyWidth, codec.width]).toEqual([2, 5]);
  });

  it.each<[unknown[], CanonicalValue[]]>([
    [
      ["eu", 7, "1.50", 1, "2024-01-01 00:00:00"],
      ["eu", "7", "1.5", "t", "2024-01-01T00:00:00.000000Z"],
    ],
    [
      ["eu", "007", 2n, "false", 1704067200],
      ["eu", "7", "2", "f", "2024-01-01T00:00:00.000000Z"],
    ],
    [
      ["", 1n, null, null, null],
      ["", "1", null, null, null],
    ],
    // A nullable unique key's NULL is a key value, distinct from '' and from the text 'NULL'.
    [
      [null, 1, null, null, null],
      [null, "1", null, null, null],
    ],
    [
      ["eu", undefined, "1", 1, null],
      ["eu", null, "1", "t", null],
    ],
  ])("canonicalRow(%o) → %j", (raw, expected) => {
    expect(codec.canonicalRow(raw)).toEqual(expected);
  });

  it.each<[unknown[], string]>([
    [["eu", 1, "abc", 1, null], 'column price at key ["eu","1"]: "abc" is not a decimal'],
    [["eu", 1, "1", 2, null], 'column active at key ["eu","1"]: 2 is not a boolean'],
    [["eu", 1.5, "1", 1, null], "column id: 1.5 is not an integer"],
  ])("canonicalRow(%j) throws RowError %j", (raw, message) => {
    expect(() => codec.canonicalRow(raw)).toThrow(new RowError(message));
  });

  it("record() splits key and values and fingerprints them like fingerprintRow", () => {
    const rec = codec.record(["eu", 7, "1.50", true, "2024-01-01T00:00:00Z"]);
    expect(rec.key).toEqual(["eu", "7"]);
    expect(rec.values).toEqual(["1.5", "t", "2024-01-01T00:00:00.000000Z"]);
    expect(rec.fingerprint).toBe(fingerprintRow(rec.key, rec.values));
    expect(codec.fingerprintRaw(["eu", "7", "1.5", "t", "2024-01-01 00:00:00"])).toBe(rec.fingerprint);
  });

  it("reads a row at an offset of a wider one as it reads the row copied out (an in-store pair's joined row)", () => {
    const row = ["eu", 7, "1.50", true, "2024-01-01T00:00:00Z"];
    const wide = ["x", 3, ...row, "tail", null];
    expect(codec.canonicalRow(wide, 2)).toEqual(codec.canonicalRow(row));
    expect(codec.record(wide, 2)).toEqual(codec.record(row));
    expect(codec.key(wide, 2)).toEqual(codec.key(row));
    expect(() => codec.record(["x", 3, "eu", 1.5, "1", 1, null], 2)).toThrow(
      new RowError("column id: 1.5 is not an integer"),
    );
  });

  it.each<[unknown[], string[]]>([
    [
      ["eu", 7],
      ["eu", "7"],
    ],
    [
      ["eu", "-007"],
      ["eu", "-7"],
    ],
  ])("key(%j) → %j", (raw, expected) => {
    expect(codec.key(raw)).toEqual(expected);
  });

  it("key() keeps a NULL part as null, and fingerprints tell it from '' and 'NULL'", () => {
    expect(codec.key(["eu", null])).toEqual(["eu", null]);
    expect(codec.key([null, 7])).toEqual([null, "7"]);
    const fps = [null, "", "NULL", "\\N"].map((tenant) =>
      codec.fingerprintRaw([tenant, 7, null, null, null]),
    );
    expect(new Set(fps).size).toBe(4);
  });
});
