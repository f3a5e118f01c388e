/** How a SQL conformance table keeps its key unique, as DDL. Tests only. */
import type { TableFixture } from "./connector-factories.js";

/** The clause after the columns that keeps a fixture's key unique, for SQL stores (quoted key columns). */
export function keyClause(fixture: TableFixture, quoted: readonly string[], table: string): string {
  const constraint = fixture.keyConstraint ?? "primary key";
  if (constraint === "none") return "";
  if (constraint === "unique index" || constraint === "nullable unique index")
    return `, CONSTRAINT ${table}_key UNIQUE (${quoted.join(", ")})`;
  return `, PRIMARY KEY (${quoted.join(", ")})`;
}

/** Whether a fixture's key columns are declared NOT NULL (all but "nullable unique index"). */
export function keyNotNull(fixture: TableFixture): boolean {
  return fixture.keyConstraint !== "nullable unique index";
}
