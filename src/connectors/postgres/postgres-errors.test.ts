import { describe, expect, it } from "vitest";
import { connectFailed, isPostgresTransient, postgresError } from "./postgres-errors.js";

const where = { table: "public.items", server: "postgres://app:***@10.0.0.9:5432/app" };

describe("postgres connect failures", () => {
  // node-postgres's own connect deadline, fired before the TCP handshake completed (a host that drops
  // packets), rejects with the words of a closed connection and no code.
  it("a connection ended before the session began reads as the server not reached, naming timeouts.connect", () => {
    const err = connectFailed(new Error("Connection terminated unexpectedly"));
    expect(postgresError("items.pg", "cannot describe table", err, where).message).toBe(
      "items.pg: cannot describe table: cannot reach the PostgreSQL server at postgres://app:***@10.0.0.9:5432/app (no answer within timeouts.connect, or the connection was closed before the session began)",
    );
    expect(isPostgresTransient(err)).toBe(true);
  });

  it.each([
    [
      "a server error with a code",
      Object.assign(new Error("password authentication failed"), { code: "28P01" }),
    ],
    ["a refused connection", Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" })],
  ])("leaves %s as it is", (_, err) => {
    expect(connectFailed(err)).toBe(err);
  });
});
