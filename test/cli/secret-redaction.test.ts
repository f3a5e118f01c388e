/**
 * Secrets in driver failures, against the real servers: a password `${VAR}` interpolated into a URL (holding
 * spaces, or '@' and '/') never shows in what a wrong database, a refused password or a bad database index
 * prints, and a password holding '/' before an '@' (which a URL parser would cut the host out of, connecting
 * elsewhere and quoting the rest as a database name) is refused before anything connects.
 */
import { beforeAll, describe, it } from "vitest";
import { MYSQL, POSTGRES, REDIS, serviceAvailable } from "../support/services.js";
import { expectOneLineError, makeItemsReplicas, runConcord, tempDir, writeConfig } from "./helpers.js";

let up = false;
beforeAll(async () => {
  up =
    (await serviceAvailable(POSTGRES)) && (await serviceAvailable(MYSQL)) && (await serviceAvailable(REDIS));
});

/** The service's URL with `${CONCORD_TEST_PW}` as its password and `path` as its database. */
function withPassword(url: string, path: string, user?: string): string {
  const u = new URL(url);
  return `${u.protocol}//${user ?? u.username}:\${CONCORD_TEST_PW}@${u.host}/${path}`;
}

function leakConfig(): string {
  const replica = (url: string, where: string) =>
    `      a: { url: "${url}", ${where} }\n      b: { url: "sqlite:a.db", table: items }\n`;
  return `state: sqlite:state.db
datasets:
  pgds:
    key: id
    replicas:
${replica(withPassword(POSTGRES.url, "input2_no_such_db"), "table: items")}  myds:
    key: id
    replicas:
${replica(withPassword(MYSQL.url, "input2_no_such_db"), "table: items")}  rds:
    key: id
    replicas:
${replica(withPassword(REDIS.url, "99", ""), 'prefix: "input2:"')}`;
}

describe.concurrent("secrets in driver failures", () => {
  it("a password with spaces never shows in a wrong-database, refused-password or bad-index failure", async ({
    expect,
    onTestFinished,
    skip,
  }) => {
    if (!up) skip();
    const dir = tempDir(onTestFinished);
    makeItemsReplicas(dir, { rows: 3 });
    const config = writeConfig(dir, leakConfig());
    for (const pw of ["open sesame 42", "pa ss'w\"ord 7", "s3cr3t%20x y"]) {
      const env = { CONCORD_TEST_PW: pw };
      const runs = await Promise.all(
        ["pgds", "myds", "rds"].map((d) => runConcord(["scan", "-d", d, "-c", config], { cwd: dir, env })),
      );
      for (const r of runs) {
        const line = expectOneLineError(r, expect);
        for (const part of pw.split(" ")) if (part.length >= 4) expect(line, pw).not.toContain(part);
      }
      expect(runs[0]!.stderr).toMatch(/^concord: pgds\.a: .*input2_no_such_db/);
      expect(runs[1]!.stderr).toMatch(/^concord: myds\.a: access denied/);
      expect(runs[2]!.stderr).toMatch(/^concord: rds\.a: /);
    }
  });

  it("a password holding '/' before an '@' is refused naming the URL, before anything connects", async ({
    expect,
    onTestFinished,
    skip,
  }) => {
    if (!up) skip();
    const dir = tempDir(onTestFinished);
    makeItemsReplicas(dir, { rows: 3 });
    const config = writeConfig(dir, leakConfig());
    const env = { CONCORD_TEST_PW: "hunter2@127.0.0.1/input2_s3cret" };
    // The config is refused whole (every dataset's URLs are checked on load), naming the first such URL.
    const refused = await runConcord(["scan", "-d", "myds", "-c", config], { cwd: dir, env });
    expect(expectOneLineError(refused, expect)).toBe(
      "concord: datasets.pgds.replicas.a.url: the password holds '/', '?' or '#' before its '@', unencoded, so the host would be read from inside it: percent-encode them (%2F, %3F, %23)",
    );
    // Percent-encoded, the same password is read as one and reaches the server (which refuses the database).
    const encoded = { CONCORD_TEST_PW: encodeURIComponent(env.CONCORD_TEST_PW) };
    const pgRun = await runConcord(["scan", "-d", "pgds", "-c", config], { cwd: dir, env: encoded });
    const line = expectOneLineError(pgRun, expect);
    expect(line).toMatch(/database "input2_no_such_db" does not exist/);
    expect(line).not.toContain("s3cret");
    expect(line).not.toContain("hunter2");
  });
});
