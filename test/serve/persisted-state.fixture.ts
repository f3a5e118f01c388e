/**
 * State locations for serve tests that restart the service: a SQLite file in the test's folder, or a
 * PostgreSQL schema of its own (dropped at the end), as the `state:` line of a config. Tests only.
 */
import { randomUUID } from "node:crypto";
import pg from "pg";
import { POSTGRES, serviceAvailable, TEST_PREFIX } from "../support/services.js";

export interface StateKind {
  readonly name: "SQLite" | "PostgreSQL";
  readonly available: boolean;
  /** A fresh location's `state:` value, and how to drop it afterwards. */
  create(): { url: string; drop(): Promise<void> };
}

const postgres = await serviceAvailable(POSTGRES);

export const STATE_KINDS: readonly StateKind[] = [
  { name: "SQLite", available: true, create: () => ({ url: "sqlite:state.db", drop: async () => {} }) },
  {
    name: "PostgreSQL",
    available: postgres,
    create() {
      const schema = `${TEST_PREFIX}_${process.pid}_${randomUUID().slice(0, 8)}`;
      const sep = POSTGRES.url.includes("?") ? "&" : "?";
      return {
        url: `"${POSTGRES.url}${sep}schema=${schema}"`,
        async drop() {
          const client = new pg.Client({ connectionString: POSTGRES.url });
          await client.connect();
          try {
            await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
          } finally {
            await client.end();
          }
        },
      };
    },
  },
];
