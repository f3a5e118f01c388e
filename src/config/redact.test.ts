import { describe, expect, it } from "vitest";
import {
  credentialsCutShort,
  redactText,
  redactUrl,
  rememberConfigSecrets,
  rememberUrlSecrets,
} from "./redact.js";

describe("redactUrl", () => {
  it.each<[string, string]>([
    ["postgres://u:secret@h/db", "postgres://u:***@h/db"],
    [
      "postgresql://app:s3cr3t@127.0.0.1:5432/app?sslmode=require",
      "postgresql://app:***@127.0.0.1:5432/app?sslmode=require",
    ],
    ["mysql://root:pw@localhost:3306/app", "mysql://root:***@localhost:3306/app"],
    ["redis://:secret@127.0.0.1:6379/0", "redis://:***@127.0.0.1:6379/0"],
    ["REDIS://user:pw@h", "REDIS://user:***@h"],
    // An unencoded '@' in the password: the host is after the last '@', and no part of the password shows.
    ["postgres://app:p@ssw0rd@db/app", "postgres://app:***@db/app"],
    ["postgres://app:a:b@db/app", "postgres://app:***@db/app"],
    ["postgres://app:pa/ss@db/app", "postgres://app:***@db/app"],
    // Unencoded '@' with '/', '?' or '#' after it, or a space (`${PGPASSWORD}` interpolated): none of it shows.
    ["postgres://app:p@ss:w/rd?#@db/app", "postgres://app:***@db/app"],
    ["mysql://root:open sesame@db:3306/app", "mysql://root:***@db:3306/app"],
    // A credential in the query, to the next '&' or '#', a space included.
    ["postgres://u@h/db?password=open sesame&ssl=1", "postgres://u@h/db?password=***&ssl=1"],
    ["mysql://root@h/db?sslmode=x&sslpassword=p%40ss#f", "mysql://root@h/db?sslmode=x&sslpassword=***#f"],
    // Nothing to hide.
    ["postgres://u@h/db", "postgres://u@h/db"],
    ["postgres://h:5432/db", "postgres://h:5432/db"],
    ["postgres://127.0.0.1/app", "postgres://127.0.0.1/app"],
    ["sqlite:/var/lib/a.db", "sqlite:/var/lib/a.db"],
    ["memory:items", "memory:items"],
  ])("%s → %s", (url, expected) => {
    expect(redactUrl(url)).toBe(expected);
  });
});

describe("redactText", () => {
  it.each<[string, string]>([
    [
      "cannot connect to postgres://u:secret@h/db: refused",
      "cannot connect to postgres://u:***@h/db: refused",
    ],
    [
      "copy from mysql://a:x@h1/db to postgres://b:y@h2/db",
      "copy from mysql://a:***@h1/db to postgres://b:***@h2/db",
    ],
    ["postgres://app:p@ssw0rd@db/app is down", "postgres://app:***@db/app is down"],
    ["host=db password=hunter2 user=app", "host=db password=*** user=app"],
    ["?user=app&password=hunter2&ssl=1", "?user=app&password=***&ssl=1"],
    ["PASSWORD=x pwd=y passwd=z token=abc", "PASSWORD=*** pwd=*** passwd=*** token=***"],
    ["GET /api?access_token=abc123", "GET /api?access_token=***"],
    ["no secrets in postgres://h:5432/db here", "no secrets in postgres://h:5432/db here"],
    ["plain message", "plain message"],
  ])("%j → %j", (text, expected) => {
    expect(redactText(text)).toBe(expected);
  });

  it.each<[string, string]>([
    ["postgres://u:hunter2@h/db", "hunter2"],
    ["failed: postgres://u:p@ss@h/db", "p@ss"],
    ["failed: postgres://u:p@ss:w/rd?#@h/db: refused", "ss:w/rd"],
    ["dsn password=hunter2", "hunter2"],
  ])("%j does not contain the secret %j once redacted", (text, secret) => {
    expect(redactText(text)).not.toContain(secret);
  });
});

describe("remembered secrets", () => {
  it("blanks a configured password wherever a message quotes it: alone, with spaces, encoded or decoded", () => {
    rememberUrlSecrets("postgres://app:open sesame 42@db/app");
    rememberUrlSecrets("mysql://root:p%40ss%2Fw0rd@db/app?sslpassword=k3y%20pass");
    rememberConfigSecrets(
      {
        serve: { token: "tok-0123456789abcdef" },
        datasets: { d: { replicas: { a: { url: "redis://:r3dis pw@h/0" } } } },
      },
      { PGPASSWORD: "pg env secret" },
    );
    for (const [text, secret] of [
      ["auth failed (password 'open sesame 42')", "open sesame 42"],
      ["cannot connect to postgres://app:open sesame 42@db/app", "sesame 42"],
      ["login p@ss/w0rd refused", "p@ss/w0rd"],
      ["login p%40ss%2Fw0rd refused", "p%40ss%2Fw0rd"],
      ["key k3y pass rejected", "k3y pass"],
      ["Bearer tok-0123456789abcdef", "tok-0123456789abcdef"],
      ["AUTH r3dis pw", "r3dis pw"],
      ["pg env secret was wrong", "pg env secret"],
    ] as const)
      expect(redactText(text), text).not.toContain(secret);
    expect(redactText("auth failed (password 'open sesame 42')")).toBe("auth failed (password '***')");
  });
});

describe("credentialsCutShort", () => {
  it.each<[string, boolean]>([
    ["postgres://u:a@b/c@db/app", true],
    ["mysql://root:x@127.0.0.1/secret_db@127.0.0.1:3306/app", true],
    ["postgres://u:p@ss@db/app", false],
    ["postgres://u:p%2Fss@db/app", false],
    ["postgres://db/app?application_name=a@b", false],
    ["postgres://u@db/app", false],
    ["sqlite:/tmp/a@b.db", false],
  ])("%s → %s", (url, cut) => {
    expect(credentialsCutShort(url)).toBe(cut);
  });
});
