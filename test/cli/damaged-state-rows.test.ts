/**
 * State rows edited or damaged behind the store's back (a JSON column that no longer parses): every command
 * that reads one ends with one line naming the table, the row and the column, never a bare parser message
 * ("internal error: Unexpected token …"); `audit verify` reports a damaged ledger row as a finding (exit 3).
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  execSql,
  expectOneLineError,
  itemsConfig,
  makeSeededReplicas,
  parseJson,
  query,
  runConcord,
  SEEDED_POLICY,
  tempDir,
  writeConfig,
} from "./helpers.js";

/** The seeded replicas repaired once (ledger rows, an escalation, a run): the config, state file and run id. */
async function repaired(dir: string): Promise<{ config: string; state: string; runId: string }> {
  makeSeededReplicas(dir);
  const config = writeConfig(dir, itemsConfig(SEEDED_POLICY));
  const r = await runConcord(["repair", "-c", config, "--json"]);
  expect(r.code, r.stderr).toBe(1);
  const { runId } = parseJson<{ runId: string }>(r);
  return { config, state: join(dir, "state.db"), runId };
}

describe("a state row whose JSON column does not parse", () => {
  it("is a finding for audit verify (exit 3, naming the ledger row and column) and one line for rollback", async () => {
    const { config, state, runId } = await repaired(tempDir());
    const [row] = query<{ id: string }>(
      state,
      "SELECT id FROM ledger WHERE before_values IS NOT NULL LIMIT 1",
    );
    execSql(state, `UPDATE ledger SET before_values = '{garbage' WHERE id = '${row!.id}'`);
    const message = `the state store's ledger row ${row!.id}: column before_values is not JSON (the row was edited or damaged)`;

    const verify = await runConcord(["audit", "verify", "-c", config, "--json"]);
    expect(verify.code, verify.stderr).toBe(3);
    expect(JSON.parse(verify.stdout)).toMatchObject({ ok: false, problem: message });

    const rollback = await runConcord(["rollback", "--run", runId, "-c", config]);
    expect(expectOneLineError(rollback)).toBe(`concord: ${message}`);
  });

  it("ends escalations list/show, recheck and insights with one line naming the row", async () => {
    const { config, state, runId } = await repaired(tempDir());
    const [esc] = query<{ id: string }>(state, "SELECT id FROM escalations LIMIT 1");
    execSql(state, `UPDATE escalations SET detail = '{x' WHERE id = '${esc!.id}'`);
    const escalation = `concord: the state store's escalations row ${esc!.id}: column detail is not JSON (the row was edited or damaged)`;
    expect(expectOneLineError(await runConcord(["escalations", "list", "-c", config]))).toBe(escalation);
    expect(expectOneLineError(await runConcord(["escalations", "show", esc!.id, "-c", config]))).toBe(
      escalation,
    );

    execSql(state, `UPDATE runs SET counts = 'nope' WHERE id = '${runId}'`);
    const run = `concord: the state store's runs row ${runId}: column counts is not JSON (the row was edited or damaged)`;
    expect(expectOneLineError(await runConcord(["recheck", "--run", runId, "-c", config]))).toBe(run);
    expect(expectOneLineError(await runConcord(["insights", "-c", config]))).toBe(run);
  });
});
