/** Reads a candidate policy file (a dataset's `policy:` block) and validates it for each dataset as concord.yaml would. */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { parse, parseDocument } from "yaml";
import { ConfigError, type PolicyConfig, parseConfig, yamlValue } from "./load-config.js";
import { policyBlockShape } from "./policy-file-shape.js";

type Env = Readonly<Record<string, string | undefined>>;

/**
 * The candidate policy in `file` (YAML: what goes under `datasets.<name>.policy`), validated against each of
 * `datasets` of the config file `configPath` exactly as if it stood there (owner replicas, version columns,
 * merge rules), and normalised as the config's own policies are. Both paths are relative to `cwd`. Throws a
 * one-line ConfigError starting with the candidate file's name, and naming the dataset's path when the
 * candidate does not fit one of them.
 */
export function loadCandidatePolicy(
  file: string,
  configPath: string,
  datasets: readonly string[],
  env: Env = process.env,
  cwd: string = process.cwd(),
): Map<string, PolicyConfig> {
  const read = (path: string, what: string): string => {
    try {
      return readFileSync(resolve(cwd, path), "utf8");
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new ConfigError(
        `${path}: cannot read ${what}${code === "ENOENT" ? " (not found)" : ` (${code})`}`,
      );
    }
  };
  let block: unknown;
  try {
    block = parse(read(file, "candidate policy file"), { uniqueKeys: true });
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(`${file}: ${(err as Error).message.split("\n")[0]}`);
  }
  policyBlockShape(block, file);
  const doc = yamlValue(parseDocument(read(configPath, "config file"), { uniqueKeys: true }), configPath) as {
    datasets?: Record<string, Record<string, unknown>>;
  } | null;
  const out = new Map<string, PolicyConfig>();
  for (const name of datasets) {
    const ds = doc?.datasets?.[name];
    if (!ds) throw new ConfigError(`${configPath}: no dataset named "${name}"`);
    // Only this dataset, with the candidate as its policy: the config's own rules judge it.
    const only = { ...doc, datasets: { [name]: { ...ds, policy: block } }, alerts: undefined };
    try {
      const config = parseConfig(JSON.stringify(only), configPath, env, cwd);
      out.set(name, config.datasets[0]!.policy);
    } catch (err) {
      if (err instanceof ConfigError) throw new ConfigError(`${file}: ${err.message}`);
      throw err;
    }
  }
  return out;
}
