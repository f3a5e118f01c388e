/** MariaDB/MySQL against concurrent writers and case-only key differences, on the real server. */
import type { RowDataPacket } from "mysql2/promise";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MysqlConnector } from "../../src/connectors/mysql/mysql-connector.js";
import { fingerprintRow } from "../../src/core/fingerprint.js";
import { FULL_RANGE, type Key, type KeyFingerprint, type RecordShape } from "../../src/core/model.js";
import { detectDivergences } from "../../src/detect/detect-divergences.js";
import { createMysqlTestDatabase, type MysqlTestDatabase } from "../support/mysql-test-database.js";
import { MYSQL, serviceAvailable } from "../support/services.js";

const available = await serviceAvailable(MYSQL);

const SHAPE: RecordShape = {
  key: [{ name: "id", type: "integer" }],
  columns: [
    { name: "note", type: "text" },
    { name: "version", type: "integer" },
  ],
};

async function streamAll(c: MysqlConnector, shape: RecordShape): Promise<KeyFingerprint[]> {
  const out: KeyFingerprint[] = [];
  for await (const batch of c.streamFingerprints(shape, FULL_RANGE, 3)) out.push(...batch);
  return out;
}

let db: MysqlTestDatabase;

describe.skipIf(!available)("mysql connector under concurrency", () => {
  let connector: MysqlConnector;
  const pool = () => db.pool();

  beforeAll(async () => {
    db = await createMysqlTestDatabase();
    await db.admin.query("CREATE TABLE items (id BIGINT PRIMARY KEY, note TEXT, version BIGINT)");
    connector = new MysqlConnector(pool(), "items", { label: "conc.mysql", where: db.url, ownsPool: true });
  });
  afterAll(async () => {
    await connector?.close();
    await db?.drop();
  });

  it("waits for a writer holding the row, then refuses (superseded) and keeps the writer's value", async () => {
    await db.admin.query("REPLACE INTO items VALUES (1, 'original', 1)");
    const [seen] = await connector.fetchRecords(SHAPE, [["1"]]);
    const other = await db.admin.getConnection();
    try {
      await other.query("START TRANSACTION");
      await other.query("UPDATE items SET note = 'theirs', version = 2 WHERE id = 1");
      // The repair must block on the row lock, not read around it.
      const repair = connector.applyWrites(SHAPE, [
        { key: ["1"], expected: seen!.fingerprint, next: ["repaired", "9"] },
      ]);
      await waitingForLock(repair);
      await other.query("COMMIT");
      expect(await repair).toEqual(["superseded"]);
    } finally {
      other.release();
    }
    const [now] = await connector.fetchRecords(SHAPE, [["1"]]);
    expect(now!.values).toEqual(["theirs", "2"]);
  });

  it("refuses an insert over a row another connection inserted after detection", async () => {
    const other = await db.admin.getConnection();
    try {
      await other.query("START TRANSACTION");
      await other.query("INSERT INTO items VALUES (2, 'theirs', 1)");
      const repair = connector.applyWrites(SHAPE, [{ key: ["2"], expected: null, next: ["mine", "1"] }]);
      await waitingForLock(repair);
      await other.query("COMMIT");
      expect(await repair).toEqual(["superseded"]);
    } finally {
      other.release();
    }
    expect((await connector.fetchRecords(SHAPE, [["2"]]))[0]!.values).toEqual(["theirs", "1"]);
  });

  it("never loses a concurrent writer's change while repairing the same keys", async () => {
    const ids = Array.from({ length: 40 }, (_, i) => 100 + i);
    await db.admin.query(`INSERT INTO items VALUES ${ids.map((id) => `(${id}, 'n${id}', 0)`).join(", ")}`);
    // The writer appends a unique token to a random key's note, committing each one; every token it
    // committed must be in the final note, whatever the connector wrote in between.
    const committed: { id: number; token: string }[] = [];
    let stop = false;
    const writer = (async () => {
      const conn = await db.admin.getConnection();
      try {
        for (let n = 0; !stop; n++) {
          const id = ids[(n * 7919) % ids.length]!;
          const token = `+w${n}`;
          await conn.query("UPDATE items SET note = CONCAT(note, ?), version = version + 1 WHERE id = ?", [
            token,
            id,
          ]);
          committed.push({ id, token });
        }
      } finally {
        conn.release();
      }
    })();
    const outcomes = new Map<string, number>();
    for (let round = 0; round < 15; round++) {
      const seen = await connector.fetchRecords(
        SHAPE,
        ids.map((id) => [String(id)]),
      );
      const writes = seen.map((r) => ({
        key: r.key,
        expected: r.fingerprint,
        next: [`${r.values[0]}#r${round}`, String(Number(r.values[1]) + 1000)],
      }));
      for (const o of await connector.applyWrites(SHAPE, writes)) outcomes.set(o, (outcomes.get(o) ?? 0) + 1);
    }
    stop = true;
    await writer;
    const final = new Map(
      (
        await connector.fetchRecords(
          SHAPE,
          ids.map((id) => [String(id)]),
        )
      ).map((r) => [r.key[0], r.values[0]!]),
    );
    for (const { id, token } of committed) expect(final.get(String(id)), token).toContain(token);
    expect(outcomes.get("applied") ?? 0).toBeGreaterThan(0);
    expect(committed.length).toBeGreaterThan(0);
  });

  it("writes with the fingerprint it would have computed itself (repeat is a noop)", async () => {
    const write = { key: ["3"], expected: null, next: ["x|y\\z", null] };
    expect(await connector.applyWrites(SHAPE, [write])).toEqual(["applied"]);
    expect(await connector.applyWrites(SHAPE, [write])).toEqual(["noop"]);
    const [rec] = await connector.fetchRecords(SHAPE, [["3"]]);
    expect(rec!.fingerprint).toBe(fingerprintRow(["3"], ["x|y\\z", null]));
  });
});

describe.skipIf(!available)("mysql connector with text keys differing only in case", () => {
  let db: MysqlTestDatabase;
  const TEXT_SHAPE: RecordShape = {
    key: [{ name: "code", type: "text" }],
    columns: [{ name: "label", type: "text" }],
  };
  // Code-point order: upper case, then '_' (U+005F), then lower case; a case-insensitive collation
  // would sort a, A, b, B, … and treat 'a' and 'A' as one key.
  const KEYS = ["A", "B", "Z", "_", "a", "aa", "b", "é"];

  beforeAll(async () => {
    db = await createMysqlTestDatabase();
  });
  afterAll(async () => {
    await db?.drop();
  });

  for (const collation of ["utf8mb4_bin", "nopad"]) {
    it(`keeps 'a' and 'A' distinct and orders keys binary (${collation})`, async () => {
      const coll = collation !== "nopad" ? collation : db.mariadb ? "utf8mb4_nopad_bin" : "utf8mb4_0900_bin";
      const table = `codes_${collation}`;
      await db.admin.query(
        `CREATE TABLE ${table} (code VARCHAR(16) COLLATE ${coll} PRIMARY KEY, label TEXT) CHARACTER SET utf8mb4`,
      );
      await db.admin.query(
        `INSERT INTO ${table} VALUES ${[...KEYS]
          .reverse()
          .map((k) => `('${k}', 'v${k}')`)
          .join(", ")}`,
      );
      const c = new MysqlConnector(db.pool(), table, { label: table, where: db.url, ownsPool: true });
      try {
        expect((await streamAll(c, TEXT_SHAPE)).map((r) => r.key[0])).toEqual(KEYS);
        expect((await c.fetchRecords(TEXT_SHAPE, [["a"]])).map((r) => r.key)).toEqual([["a"]]);
        expect(await c.count(TEXT_SHAPE, { lo: ["B"], hi: ["a"] })).toBe(3);
        const [sum] = await c.checksumRanges(TEXT_SHAPE, [{ lo: ["B"], hi: ["a"] }]);
        expect(sum!.count).toBe(3);
        expect(await c.splitRange(TEXT_SHAPE, FULL_RANGE, 4)).toEqual([["Z"], ["a"], ["b"]]);
        // Writing 'a' leaves 'A' alone.
        const [a] = await c.fetchRecords(TEXT_SHAPE, [["a"]]);
        expect(
          await c.applyWrites(TEXT_SHAPE, [{ key: ["a"], expected: a!.fingerprint, next: ["lower"] }]),
        ).toEqual(["applied"]);
        const got = new Map(
          (await c.fetchRecords(TEXT_SHAPE, [["a"], ["A"]])).map((r) => [r.key[0], r.values[0]]),
        );
        expect(got).toEqual(
          new Map([
            ["a", "lower"],
            ["A", "vA"],
          ]),
        );
      } finally {
        await c.close();
      }
    });
  }

  it("orders keys binary in a case-insensitive collation and finds every difference", async () => {
    // 'a' and 'A' cannot both be keys here; the collation's own order (a, B, _) is not code-point order.
    const keys = ["B", "Z", "_", "a", "c", "é"];
    const make = async (table: string, rows: readonly (readonly [string, string])[]) => {
      await db.admin.query(
        `CREATE TABLE ${table} (code VARCHAR(16) COLLATE utf8mb4_general_ci PRIMARY KEY, label TEXT) CHARACTER SET utf8mb4`,
      );
      await db.admin.query(
        `INSERT INTO ${table} VALUES ${rows.map(([k, v]) => `('${k}', '${v}')`).join(", ")}`,
      );
      return new MysqlConnector(db.pool(), table, { label: table, where: db.url, ownsPool: true });
    };
    const left = await make(
      "ci_left",
      keys.map((k) => [k, `v${k}`]),
    );
    const right = await make(
      "ci_right",
      keys.filter((k) => k !== "c").map((k) => [k, k === "_" ? "changed" : `v${k}`]),
    );
    try {
      expect((await streamAll(left, TEXT_SHAPE)).map((r) => r.key[0])).toEqual(keys);
      expect(await left.pushdownLimits(TEXT_SHAPE)).toEqual([expect.stringContaining("compared as BINARY")]);
      const found: Key[] = [];
      for await (const batch of detectDivergences(
        TEXT_SHAPE,
        [
          { name: "left", connector: left },
          { name: "right", connector: right },
        ],
        { segmentRows: 2, leafRows: 1, fanout: 2 },
      )) {
        for (const o of batch) found.push(o.key);
      }
      expect(found).toEqual([["_"], ["c"]]);
    } finally {
      await left.close();
      await right.close();
    }
  });
});

/**
 * Resolves once a transaction on this file's database waits for a row lock (the repair, blocked by the
 * other connection's uncommitted write): the server says so, so no fixed sleep has to guess when.
 * Rejects if `repair` settles first, i.e. it did not wait for the lock.
 */
async function waitingForLock(repair: Promise<unknown>): Promise<void> {
  let settled = false;
  const settle = () => {
    settled = true;
  };
  repair.then(settle, settle);
  for (;;) {
    const [rows] = await db.admin.query<RowDataPacket[]>(
      `SELECT COUNT(*) AS n FROM information_schema.INNODB_TRX t
       JOIN information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id
       WHERE t.trx_state = 'LOCK WAIT' AND p.DB = ?`,
      [db.name],
    );
    if (Number(rows[0]!.n) > 0) return;
    if (settled) throw new Error("the repair settled without waiting for the other connection's lock");
    await new Promise((r) => setTimeout(r, 10));
  }
}
