/** Who the audit names for what the command line does: `cli:` and the OS user. */
import { userInfo } from "node:os";
import type { CliIo } from "./io.js";

/** `cli:<user>`: the OS user running the command (USER or LOGNAME when the uid has no passwd entry). */
export function cliActor(io: Pick<CliIo, "env">): string {
  let user: string | undefined;
  try {
    user = userInfo().username;
  } catch {
    // No passwd entry for this uid (a container): the environment is all there is.
  }
  return `cli:${user || io.env.USER || io.env.LOGNAME || "unknown"}`;
}
