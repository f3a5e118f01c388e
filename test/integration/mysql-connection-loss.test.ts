/** A MariaDB/MySQL connection killed while a listing streams: the read resumes behind the last key, never ends short. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openMysqlConnector } from "../../src/connectors/mysql/mysql-connector.js";
import type { KeyRange, RecordShape } from "../../src/core/model.js";
import { createMysqlTestDatabase, type MysqlTestDatabase } from "../support/mysql-test-database.js";
import { MYSQL, serviceAvailable } from "../support/services.js";

const available = await serviceAvailable(MYSQL);

const SHAPE: RecordShape = {
  key: [{ name: "id", type: "integer" }],
  columns: [{ name: "note", type: "text" }],
};
const ROWS = 20_000;
/**
 * Each row's note: long enough that the fingerprint listing (20 MB) cannot sit whole in the loopback
 * socket buffers, so the statement is still sending when it is killed, however slowly this process reads.
 */
const NOTE = "n".repeat(1000);

describe.skipIf(!available)("MysqlConnector: a connection lost mid-stream", () => {
  let db: MysqlTestDatabase;

  beforeAll(async () => {
    db = await createMysqlTestDatabase();
    await db.admin.query("CREATE TABLE items (id BIGINT PRIMARY KEY, note TEXT)");
    const values = Array.from({ length: ROWS }, (_, i) => `(${i + 1}, '${NOTE} ${i + 1}')`);
    for (let i = 0; i < values.length; i += 2000)
      await db.admin.query(`INSERT INTO items VALUES ${values.slice(i, i + 2000).join(",")}`);
  });
  afterAll(async () => {
    await db?.drop();
  });

  /** Kills the server thread running a statement over `items` (the listing), waiting for it to show. */
  async function killListing(): Promise<void> {
    for (let i = 0; i < 200; i++) {
      const [rows] = await db.admin.query(
        "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = ? AND INFO LIKE 'SELECT%items%' AND ID <> CONNECTION_ID()",
        [db.name],
      );
      const ids = (rows as { ID: number }[]).map((r) => r.ID);
      if (ids.length > 0) {
        for (const id of ids) await db.admin.query(`KILL ${Number(id)}`);
        return;
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error("no listing to kill");
  }

  it.each(["fingerprint", "native"] as const)(
    "lists every row exactly once (%s listing) when the connection is killed while the engine holds a batch",
    async (kind) => {
      const c = openMysqlConnector(db.url, "items", { label: "ds.my", readonly: true });
      try {
        // Three ranges with gaps between them, so the listing is one multi-range statement.
        const ranges: KeyRange[] = [
          { lo: ["1"], hi: ["8001"] },
          { lo: ["9001"], hi: ["15001"] },
          { lo: ["16001"], hi: ["20001"] },
        ];
        const listing = () =>
          kind === "native"
            ? c.nativeHash.streamHashesIn(SHAPE, ranges, 500)
            : c.streamFingerprintsIn(SHAPE, ranges, 500);
        // What one listing costs undisturbed (after any first-use queries).
        for await (const _ of listing());
        let before = c.stats.queries;
        for await (const _ of listing());
        const undisturbed = c.stats.queries - before;
        before = c.stats.queries;
        const list = listing();
        const keys: number[] = [];
        let killed = false;
        for await (const batch of list) {
          keys.push(...batch.map((kf) => Number(kf.key[0])));
          if (!killed && keys.length >= 1000) {
            // The connection dies while this batch is held: the rest must still come, once.
            await killListing();
            await new Promise((r) => setTimeout(r, 100));
            killed = true;
          }
        }
        expect(killed).toBe(true);
        // The listing was read again behind the last key handed out, on a new connection.
        expect(c.stats.queries - before).toBe(undisturbed + 1);
        const expected = [
          ...Array.from({ length: 8000 }, (_, i) => i + 1),
          ...Array.from({ length: 6000 }, (_, i) => i + 9001),
          ...Array.from({ length: 4000 }, (_, i) => i + 16001),
        ];
        expect(keys.length).toBe(expected.length);
        expect(keys).toEqual(expected);
      } finally {
        await c.close();
      }
    },
  );
});
