import { describe, expect, it } from "vitest";
import { ConnectorError } from "../connectors/connector.js";
import { isUnreachable, oneLine } from "./write-batch.js";
import { RowsRejectedError } from "./write-guard.js";

describe("isUnreachable", () => {
  it.each<[string, unknown, boolean]>([
    [
      "a refused connection (code)",
      Object.assign(new Error("connect failed"), { code: "ECONNREFUSED" }),
      true,
    ],
    ["a refused connection (text)", new Error("connect ECONNREFUSED 127.0.0.1:5432"), true],
    ["a reset connection", Object.assign(new Error("read"), { code: "ECONNRESET" }), true],
    [
      "MySQL's lost connection",
      Object.assign(new Error("Connection lost"), { code: "PROTOCOL_CONNECTION_LOST" }),
      true,
    ],
    [
      "PostgreSQL connector",
      new ConnectorError("b: cannot reach the PostgreSQL server at h (ETIMEDOUT)"),
      true,
    ],
    ["pg's terminated connection", new Error("Connection terminated unexpectedly"), true],
    ["a closed SQLite handle", new TypeError("The database connection is not open"), true],
    ["ioredis closed", new Error("Connection is closed."), true],
    [
      "a CHECK constraint",
      new ConnectorError("b: conditional write failed: CHECK constraint failed: x"),
      false,
    ],
    [
      "a value too long",
      new ConnectorError("b: value too long for type character varying(5) (SQLSTATE 22001)"),
      false,
    ],
    ["a duplicate", new ConnectorError("b: Duplicate entry 'item-3' for key 'by_name'"), false],
    [
      "a packet too large",
      new ConnectorError("b: Got a packet bigger than 'max_allowed_packet' bytes"),
      false,
    ],
    [
      "a read-only file",
      new ConnectorError("b: conditional write failed: attempt to write a readonly database"),
      false,
    ],
  ])("%s → %s", (_name, err, unreachable) => {
    expect(isUnreachable(err)).toBe(unreachable);
  });
});

describe("oneLine", () => {
  it("keeps the first line of the store's message, unwrapping a refusal", () => {
    expect(oneLine(new Error("first\nsecond"))).toBe("first");
    expect(oneLine(new RowsRejectedError(new Error("refused\nstack")))).toBe("refused");
    expect(oneLine("plain")).toBe("plain");
  });
});
