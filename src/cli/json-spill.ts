/** JSON values spilled to temporary files and read back in order, so reports stay off the heap. */
import {
  closeSync,
  mkdtempSync,
  openSync,
  readSync,
  rmdirSync,
  rmSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { StringDecoder } from "node:string_decoder";

/**
 * A value's JSON as `JSON.stringify(value, null, 2)` writes it, kept as text: a document writer copies it
 * (indented) instead of parsing and serialising it again.
 */
export class JsonText {
  constructor(readonly text: string) {}
}

/** A spill's values standing as one item of a list: a document writer copies their text (`indented`). */
export class JsonItems {
  constructor(private readonly spill: JsonSpill) {}

  /** True when the spill holds no value. */
  get empty(): boolean {
    return this.spill.count === 0;
  }

  indented(pad: string): Iterable<string> {
    return this.spill.indented(pad);
  }
}

/**
 * Ends each value in a spill file. JSON text never holds a raw control character (they are escaped in
 * strings), so a value's indented JSON, newlines and all, ends exactly where this stands.
 */
const END = "\x1e\n";

/**
 * Characters buffered before a write: the joined text and its UTF-8 bytes stay ordinary young objects. At
 * 1,000 values (about 420 KB of divergences) each write allocated both as large objects, in fresh pages of
 * their own, which took a tenth of a 100k-divergence report's CPU.
 */
const FLUSH_CHARS = 32 * 1024;

/**
 * A temporary report file could not be created, written or read back (the temporary directory cleaned
 * or full while the run went on): a one-line error naming the file and where it lives, not an internal one.
 */
export class SpillError extends Error {
  override readonly name = "SpillError";
}

/** Runs one file operation of a spill, turning its failure into a `SpillError` naming `path`. */
function onSpill<T>(what: string, path: string, op: () => T): T {
  try {
    return op();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new SpillError(
      `cannot ${what} the temporary report file ${path} (${code}); the report is kept in TMPDIR (${tmpdir()}) while the command runs`,
    );
  }
}

/**
 * JSON values appended to a temporary file as indented JSON, each ended by a record separator, read back
 * in order (as values, or as their text). Without a file (`path` undefined: nobody will read the list) it
 * only counts, and the values are never built.
 */
export class JsonSpill {
  private readonly fd: number | undefined;
  private buffer: string[] = [];
  /** The characters in `buffer`. */
  private buffered = 0;
  /** How many values were pushed. */
  count = 0;

  constructor(private readonly path?: string) {
    this.fd = path === undefined ? undefined : onSpill("create", path, () => openSync(path, "w"));
  }

  /** Appends the value `make` builds (called only when the list is kept). */
  push(make: () => unknown): void {
    this.pushText(() => JSON.stringify(make(), null, 2));
  }

  /** Appends a value as the indented JSON `make` writes (`JSON.stringify(value, null, 2)`'s text exactly). */
  pushText(make: () => string): void {
    this.count++;
    if (this.fd === undefined) return;
    const text = make();
    this.buffer.push(text);
    this.buffered += text.length;
    if (this.buffered >= FLUSH_CHARS) this.flush();
  }

  private flush(): void {
    const fd = this.fd;
    if (fd !== undefined && this.buffer.length) {
      const text = `${this.buffer.join(END)}${END}`;
      onSpill("write", this.path!, () => writeSync(fd, text));
    }
    this.buffer = [];
    this.buffered = 0;
  }

  /** Every value pushed, in order, one at a time. */
  *values(): Iterable<unknown> {
    for (const t of this.texts()) yield JSON.parse(t.text);
  }

  /** Every value pushed, in order, as its indented JSON (what a document writer copies). */
  *texts(): Iterable<JsonText> {
    if (this.path === undefined) throw new Error("this list was counted, not kept");
    this.flush();
    // Read back in chunks so a large spill never sits in memory whole.
    const path = this.path;
    const fd = onSpill("read", path, () => openSync(path, "r"));
    try {
      // 64 KiB at a time: the strings read stay small enough for V8's young generation (a megabyte string is
      // a large object, collected only by full collections, and grew the heap while a big document was written).
      const chunk = Buffer.alloc(1 << 16);
      let rest = "";
      let pos = 0;
      for (;;) {
        const n = onSpill("read", path, () => readSync(fd, chunk, 0, chunk.length, pos));
        if (n === 0) break;
        pos += n;
        const text = rest + chunk.toString("utf8", 0, n);
        const values = text.split(END);
        rest = values.pop()!;
        for (const v of values) if (v) yield new JsonText(v);
      }
      if (rest) yield new JsonText(rest);
    } finally {
      closeSync(fd);
    }
  }

  /** Every value pushed, in order, as one list item a document writer copies in large chunks. */
  items(): JsonItems {
    return new JsonItems(this);
  }

  /**
   * The values' JSON as the members of an array whose items are indented by `pad`: each value's lines
   * indented by `pad` and preceded by a newline and `pad`, values separated by commas. Worked on 32 KiB of
   * the file at a time, not value by value (a report of 100k values spent a third of its time there).
   */
  *indented(pad: string): Iterable<string> {
    if (this.path === undefined) throw new Error("this list was counted, not kept");
    this.flush();
    if (this.count === 0) return;
    const path = this.path;
    const fd = onSpill("read", path, () => openSync(path, "r"));
    try {
      const chunk = Buffer.alloc(1 << 15);
      const decoder = new StringDecoder("utf8");
      const newline = `\n${pad}`;
      // The file ends with END, which separates no two values: each chunk's last two characters wait for the next.
      let held = "\n";
      let pos = 0;
      for (;;) {
        const n = onSpill("read", path, () => readSync(fd, chunk, 0, chunk.length, pos));
        if (n === 0) break;
        pos += n;
        const text = held + decoder.write(chunk.subarray(0, n));
        held = text.slice(-END.length);
        const body = text.slice(0, -END.length);
        if (body) yield body.replaceAll("\n", newline).replaceAll(END[0]!, ",");
      }
      if (held !== END) throw new Error(`spill ${this.path} does not end with a whole value`);
    } finally {
      closeSync(fd);
    }
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
  }
}

/**
 * Temporary files of a whole command's runs, removed by `dispose`. With `keep: false` (no `--json`: only
 * counts and the first entries are shown) the lists are counted and nothing is written.
 */
export class SpillDir {
  private dir: string | undefined;
  private readonly open: JsonSpill[] = [];

  constructor(private readonly options: { keep: boolean } = { keep: true }) {}

  spill(): JsonSpill {
    if (!this.options.keep) return new JsonSpill();
    this.dir ??= onSpill("create", join(tmpdir(), "concord-run-*"), () =>
      mkdtempSync(join(tmpdir(), "concord-run-")),
    );
    const s = new JsonSpill(join(this.dir, `${this.open.length}.jsonl`));
    this.open.push(s);
    return s;
  }

  dispose(): void {
    const spills = this.open.splice(0);
    for (const s of spills) s.close();
    const dir = this.dir;
    this.dir = undefined;
    if (!dir) return;
    // Its own files, then the folder: a recursive rmSync loads and runs Node's rimraf (a few ms at every
    // command's exit). Anything else found there (or a file already gone) is left to that walk.
    try {
      for (let i = 0; i < spills.length; i++) unlinkSync(join(dir, `${i}.jsonl`));
      rmdirSync(dir);
    } catch {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}
