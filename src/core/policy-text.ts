/** The text a policy version is kept and diffed as: its declaration and what it was compiled against. Pure. */
import type { RecordShape } from "./model.js";
import type { CompiledPolicy, PolicyDeclaration } from "./policy.js";

const BARE = /^[A-Za-z_][A-Za-z0-9_.:/-]*$/;
const RESERVED = /^(true|false|null|yes|no|on|off|~)$/i;

function scalar(value: unknown): string {
  if (typeof value === "string")
    return BARE.test(value) && !RESERVED.test(value) ? value : JSON.stringify(value);
  if (typeof value === "number")
    return Number.isFinite(value) ? String(value) : JSON.stringify(String(value));
  if (value === null || value === undefined) return "null";
  return JSON.stringify(value);
}

function isPlain(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function render(value: Record<string, unknown>, indent: string, out: string[]): void {
  for (const name of Object.keys(value).sort()) {
    const v = value[name];
    if (v === undefined) continue;
    const head = `${indent}${scalar(name)}:`;
    if (Array.isArray(v)) out.push(`${head} [${v.map(scalar).join(", ")}]`);
    else if (isPlain(v)) {
      const members = Object.entries(v).filter(([, m]) => m !== undefined);
      if (members.length === 0) out.push(`${head} {}`);
      else {
        out.push(head);
        render(v, `${indent}  `, out);
      }
    } else out.push(`${head} ${scalar(v)}`);
  }
}

/**
 * A policy version as text, one setting per line, members sorted, so two versions diff line by line: the
 * declaration (`policy:`, in the normalised form `compilePolicy` hashes) and what it was compiled against
 * (`compared:` key, columns with their types, replicas, version columns), which are part of the version too.
 * Valid YAML. The same declaration over the same shape always gives the same text.
 */
export function policyText(
  decl: PolicyDeclaration,
  shape: RecordShape,
  replicas: readonly string[],
  versionColumns: CompiledPolicy["versionColumns"],
): string {
  const versions: Record<string, string> = {};
  for (const [kind, position] of Object.entries(versionColumns))
    if (position !== undefined) versions[kind] = shape.columns[position]?.name ?? String(position);
  const out: string[] = ["policy:"];
  const policy = JSON.parse(JSON.stringify(decl)) as Record<string, unknown>;
  if (Object.keys(policy).length === 0) out[0] = "policy: {}";
  else render(policy, "  ", out);
  out.push("compared:");
  render(
    {
      key: shape.key.map((c) => c.name),
      columns: shape.columns.map((c) => `${c.name}:${c.type}`),
      replicas: [...replicas],
      versions,
    },
    "  ",
    out,
  );
  return `${out.join("\n")}\n`;
}
