/**
 * A policy file given to `plan --candidate` or `simulate --policy/--candidate` that holds no policy (empty,
 * or comments only) is an error naming the file, not taken silently as the default policy; a wrong member is
 * named as the file's own (`resolve`), not by the config simulate makes up around it.
 */
import { describe, it } from "vitest";
import {
  expectOneLineError,
  itemsConfig,
  runConcord,
  SEEDED_POLICY,
  seededItems,
  tempDir,
  writeConfig,
} from "./helpers.js";

const SMALL = ["--seed", "1", "--keys", "20", "--writes", "20"];

describe.concurrent("policy files", () => {
  it("an empty or comments-only policy file is an error naming the file", async ({
    expect,
    onTestFinished,
  }) => {
    const dir = tempDir(onTestFinished);
    seededItems(dir);
    const config = writeConfig(dir, itemsConfig(SEEDED_POLICY));
    writeConfig(dir, "", "empty.yaml");
    writeConfig(dir, "# to be written\n\n", "comments.yaml");
    writeConfig(dir, "resolve: bogus\n", "bogus.yaml");
    const empty =
      "empty; expected a policy block (owner, resolve, merge, …), as under datasets.<name>.policy ({} for the default policy)";
    const cwd = { cwd: dir };
    const [planEmpty, planComments, simEmpty, simCandidate, simBogus, simMissing] = await Promise.all([
      runConcord(["plan", "--candidate", "empty.yaml", "-c", config], cwd),
      runConcord(["plan", "--candidate", "comments.yaml", "-c", config], cwd),
      runConcord(["simulate", ...SMALL, "--policy", "empty.yaml"], cwd),
      runConcord(["simulate", ...SMALL, "--candidate", "comments.yaml"], cwd),
      runConcord(["simulate", ...SMALL, "--policy", "bogus.yaml"], cwd),
      runConcord(["simulate", ...SMALL, "--policy", "nowhere.yaml"], cwd),
    ]);
    expect(expectOneLineError(planEmpty, expect)).toBe(`concord: empty.yaml: ${empty}`);
    expect(expectOneLineError(planComments, expect)).toBe(`concord: comments.yaml: ${empty}`);
    expect(expectOneLineError(simEmpty, expect)).toBe(`concord: --policy empty.yaml: ${empty}`);
    expect(expectOneLineError(simCandidate, expect)).toBe(`concord: --candidate comments.yaml: ${empty}`);
    expect(expectOneLineError(simBogus, expect)).toBe(
      'concord: --policy bogus.yaml: resolve: expected one of "owner", "lww", "highest-version", "version-vector", "merge", "replay"',
    );
    expect(expectOneLineError(simMissing, expect)).toBe(
      "concord: --policy nowhere.yaml: cannot read (not found)",
    );
    // A dataset's candidate: in the config (serve's shadow and canary) reads its file the same way.
    const shadow = writeConfig(
      dir,
      itemsConfig(SEEDED_POLICY, "    candidate: { policy: comments.yaml, mode: shadow }\n"),
      "shadow.yaml",
    );
    expect(expectOneLineError(await runConcord(["scan", "-c", shadow], cwd), expect)).toBe(
      "concord: datasets.items.candidate.policy: comments.yaml: empty; expected a policy block (owner, resolve, merge, …) ({} for the default policy)",
    );
    // `{}` says the default policy on purpose, and is taken.
    writeConfig(dir, "{}\n", "default.yaml");
    const taken = await runConcord(["simulate", ...SMALL, "--policy", "default.yaml"], cwd);
    expect(taken.stderr).toBe("");
    expect([0, 1]).toContain(taken.code);
  });
});
