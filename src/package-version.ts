/** The package's own version, read from its package.json (the one place it is written). No other I/O. */
import { readFileSync } from "node:fs";

let cached: string | undefined;

/**
 * The `version` of the package.json one level above this module: `src/` in the clone and `dist/` in a
 * build or an installed package both sit beside it. "unknown" when it cannot be read.
 */
export function packageVersion(): string {
  if (cached === undefined) {
    try {
      cached = (
        JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string }
      ).version;
    } catch {
      cached = "unknown";
    }
  }
  return cached;
}
