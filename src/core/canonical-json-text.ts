/** Exact canonical JSON: a strict parser that keeps every number's decimal value (never a double). Pure: no I/O. */

/**
 * Raised for text that is not JSON (RFC 8259, strictly: no comments, trailing commas, leading zeros,
 * NaN or single quotes). The message names the position.
 */
export class JsonSyntaxError extends Error {
  override readonly name = "JsonSyntaxError";
}

/**
 * A JSON number kept as its exact decimal value, in canonical text (`canonicalJsonNumber`). Two numbers
 * are equal exactly when their `text` is. `source` is the token as the parsed document spelled it, when
 * that differs from `text` ("1.50" for 1.5): `stringifyJsonExact` can write it back unchanged.
 */
export class JsonNumber {
  constructor(
    readonly text: string,
    readonly source?: string,
  ) {}
}

/**
 * A parsed JSON value with exact numbers. Objects are Maps: a "__proto__" key is an ordinary member, and
 * a duplicate key keeps its first position and its last value, as JSON.parse and PostgreSQL's jsonb do.
 */
export type JsonValue = null | boolean | string | JsonNumber | JsonValue[] | Map<string, JsonValue>;

const SIMPLE_INTEGER = /^-?(?:0|[1-9]\d{0,20})$/;

/**
 * The canonical text of a JSON number token, by its exact decimal value (no double in between):
 * the digits of the value without leading or trailing zeros, laid out as ECMAScript's Number#toString
 * lays out a double's digits. With k significant digits and the value 0.d₁…dₖ × 10ⁿ:
 * - k ≤ n ≤ 21: the digits and n − k zeros ("100", "123456789012345678901");
 * - 0 < n ≤ 21: a point after n digits ("1.5");
 * - −6 < n ≤ 0: "0." and −n zeros before the digits ("0.000001");
 * - otherwise an exponent: d₁[.d₂…dₖ]e±(n−1) ("1e+21", "1e-7", "1e+400", "9.007199254740993e+30").
 * So 1, 1.0, 1e0, 10E-1 and 0.1e1 are all "1"; -0 (and -0.0e5) is "0" (JSON numbers are decimals, which
 * have no negative zero; PostgreSQL's numeric has none either); huge exponents stay exponents (1e400 is
 * "1e+400", never 400 digits, nor Infinity). Every number whose value a double holds exactly in its
 * shortest form gets the text JSON.stringify gives it, so fingerprints of such data do not change.
 * The token must be valid JSON number syntax (callers parse it).
 */
export function canonicalJsonNumber(token: string): string {
  if (SIMPLE_INTEGER.test(token)) return token === "-0" ? "0" : token;
  const negative = token.charCodeAt(0) === 45;
  const start = negative ? 1 : 0;
  const e = token.search(/[eE]/);
  const exponentAt = e < 0 ? token.length : e;
  const dot = token.indexOf(".");
  const whole = token.slice(start, dot < 0 ? exponentAt : dot);
  let digits = dot < 0 ? whole : whole + token.slice(dot + 1, exponentAt);
  let pointPos = whole.length;
  let lead = 0;
  while (lead < digits.length && digits.charCodeAt(lead) === 48) lead++;
  if (lead === digits.length) return "0";
  let last = digits.length;
  while (digits.charCodeAt(last - 1) === 48) last--;
  digits = digits.slice(lead, last);
  pointPos -= lead;
  const sign = negative ? "-" : "";
  if (exponentAt === token.length) return sign + layout(digits, pointPos);
  let exp = token.slice(exponentAt + 1);
  let expNegative = false;
  if (exp[0] === "+" || exp[0] === "-") {
    expNegative = exp[0] === "-";
    exp = exp.slice(1);
  }
  exp = exp.replace(/^0+(?=\d)/, "");
  if (exp.length <= 15) return sign + layout(digits, pointPos + (expNegative ? -1 : 1) * Number(exp));
  // An exponent past 10^15 puts n far outside ±21: always the exponent form, computed exactly.
  const n = BigInt(pointPos) + (expNegative ? -1n : 1n) * BigInt(exp);
  return sign + exponentForm(digits, (n - 1n).toString());
}

/** ECMAScript Number#toString's layout of the digits `digits` with the value 0.digits × 10^n. */
function layout(digits: string, n: number): string {
  const k = digits.length;
  if (k <= n && n <= 21) return digits + "0".repeat(n - k);
  if (0 < n && n <= 21) return `${digits.slice(0, n)}.${digits.slice(n)}`;
  if (-6 < n && n <= 0) return `0.${"0".repeat(-n)}${digits}`;
  return exponentForm(digits, String(n - 1));
}

function exponentForm(digits: string, exponent: string): string {
  const mantissa = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
  return `${mantissa}e${exponent.startsWith("-") ? exponent : `+${exponent}`}`;
}

/** The lexer both parsers share: positions, whitespace, string and number tokens. */
class JsonLexer {
  pos = 0;
  /** The canonical text of the last string read by `string()`. */
  stringText = "";

  constructor(readonly text: string) {}

  fail(what: string): never {
    const at = this.pos >= this.text.length ? "end of input" : `position ${this.pos}`;
    throw new JsonSyntaxError(`invalid JSON at ${at}: ${what}`);
  }

  ws(): void {
    const t = this.text;
    let p = this.pos;
    for (;;) {
      const c = t.charCodeAt(p);
      if (c === 32 || c === 10 || c === 13 || c === 9) p++;
      else break;
    }
    this.pos = p;
  }

  expect(code: number, what: string): void {
    this.ws();
    if (this.text.charCodeAt(this.pos) !== code) this.fail(`expected ${what}`);
    this.pos++;
  }

  /** Reads the string token at `pos` (a quote): returns its value and leaves its canonical text in `stringText`. */
  string(): string {
    const t = this.text;
    const start = this.pos;
    let p = start + 1;
    let surrogate = false;
    for (;;) {
      const c = t.charCodeAt(p);
      if (c === 34) break;
      if (c === 92) return this.escapedString(start);
      if (c < 32 || Number.isNaN(c)) {
        this.pos = p;
        this.fail(Number.isNaN(c) ? "unterminated string" : "control character in a string");
      }
      if (c >= 0xd800 && c <= 0xdfff) surrogate = true;
      p++;
    }
    this.pos = p + 1;
    const value = t.slice(start + 1, p);
    // A lone surrogate is escaped by JSON.stringify (well-formed output): let it decide.
    this.stringText = surrogate ? JSON.stringify(value) : t.slice(start, p + 1);
    return value;
  }

  private escapedString(start: number): string {
    const t = this.text;
    let p = start + 1;
    for (;;) {
      const c = t.charCodeAt(p);
      if (Number.isNaN(c)) {
        this.pos = p;
        this.fail("unterminated string");
      }
      if (c === 34) break;
      p += c === 92 ? 2 : 1;
    }
    let value: string;
    try {
      value = JSON.parse(t.slice(start, p + 1)) as string;
    } catch {
      this.pos = start;
      this.fail("invalid escape or control character in a string");
    }
    this.pos = p + 1;
    this.stringText = JSON.stringify(value);
    return value;
  }

  /** Reads the number token at `pos` and returns its canonical text. */
  number(): string {
    const t = this.text;
    const start = this.pos;
    let p = start;
    if (t.charCodeAt(p) === 45) p++;
    const first = t.charCodeAt(p);
    if (first === 48) p++;
    else if (first >= 49 && first <= 57) {
      p++;
      while (isDigit(t.charCodeAt(p))) p++;
    } else {
      this.pos = p;
      this.fail("expected a value");
    }
    if (t.charCodeAt(p) === 46) {
      p++;
      if (!isDigit(t.charCodeAt(p))) {
        this.pos = p;
        this.fail("expected a digit after the decimal point");
      }
      while (isDigit(t.charCodeAt(p))) p++;
    }
    const e = t.charCodeAt(p);
    if (e === 101 || e === 69) {
      p++;
      const s = t.charCodeAt(p);
      if (s === 43 || s === 45) p++;
      if (!isDigit(t.charCodeAt(p))) {
        this.pos = p;
        this.fail("expected a digit in the exponent");
      }
      while (isDigit(t.charCodeAt(p))) p++;
    }
    this.pos = p;
    return canonicalJsonNumber(t.slice(start, p));
  }

  literal(word: string): void {
    if (!this.text.startsWith(word, this.pos)) this.fail("expected a value");
    this.pos += word.length;
  }

  end(): void {
    this.ws();
    if (this.pos < this.text.length) this.fail("unexpected text after the value");
  }
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/** The numeric value of an ECMAScript array-index key ("0", "17", … "4294967294"), or -1 for any other key. */
function arrayIndex(key: string): number {
  const n = key.length;
  if (n === 0 || n > 10) return -1;
  const first = key.charCodeAt(0);
  if (first === 48) return n === 1 ? 0 : -1;
  if (first < 49 || first > 57) return -1;
  for (let i = 1; i < n; i++) if (!isDigit(key.charCodeAt(i))) return -1;
  const v = Number(key);
  return v <= 4294967294 ? v : -1;
}

/**
 * The canonical member order: ECMAScript's property order, array-index keys first in numeric order, then
 * every other key by UTF-16 code units. It is the order the previous canonical form (JSON.stringify of an
 * object built with sorted keys) produced, kept so that fingerprints of existing data do not change.
 */
export function compareMemberKeys(a: string, b: string): number {
  return compareMembers(arrayIndex(a), a, arrayIndex(b), b);
}

function compareMembers(ia: number, a: string, ib: number, b: string): number {
  if (ia >= 0 || ib >= 0) {
    if (ia < 0) return 1;
    if (ib < 0) return -1;
    return ia - ib;
  }
  return a < b ? -1 : a > b ? 1 : 0;
}

/** One object member: its key (and array index, or -1) and its canonical value text. */
interface Member {
  readonly key: string;
  readonly index: number;
  readonly keyText: string;
  readonly value: string;
}

function byKey(a: Member, b: Member): number {
  return compareMembers(a.index, a.key, b.index, b.key);
}

/**
 * Which value of a member name repeated in one object a document means. "last": JSON.parse, PostgreSQL's
 * `json` functions and `jsonb`, MySQL 8's JSON, Redis JSON records. "first": MariaDB's JSON functions
 * (JSON_VALUE, JSON_EXTRACT) and SQLite's (json_extract, `->>`), which read the first.
 */
export type JsonDuplicates = "first" | "last";

/** Reads JSON text straight into canonical text, with no tree in between. */
class CanonicalWriter extends JsonLexer {
  constructor(
    text: string,
    private readonly firstWins: boolean,
  ) {
    super(text);
  }

  value(): string {
    this.ws();
    const c = this.text.charCodeAt(this.pos);
    switch (c) {
      case 123:
        return this.object();
      case 91:
        return this.array();
      case 34:
        this.string();
        return this.stringText;
      case 116:
        this.literal("true");
        return "true";
      case 102:
        this.literal("false");
        return "false";
      case 110:
        this.literal("null");
        return "null";
      default:
        return this.number();
    }
  }

  private object(): string {
    this.pos++;
    this.ws();
    if (this.text.charCodeAt(this.pos) === 125) {
      this.pos++;
      return "{}";
    }
    const members: Member[] = [];
    let ordered = true;
    for (;;) {
      this.ws();
      if (this.text.charCodeAt(this.pos) !== 34) this.fail("expected a member name");
      const key = this.string();
      const keyText = this.stringText;
      this.expect(58, '":"');
      const value = this.value();
      const member = { key, index: arrayIndex(key), keyText, value };
      if (ordered && members.length > 0 && byKey(members[members.length - 1]!, member) >= 0) ordered = false;
      members.push(member);
      this.ws();
      const c = this.text.charCodeAt(this.pos++);
      if (c === 125) break;
      if (c !== 44) {
        this.pos--;
        this.fail('expected "," or "}"');
      }
    }
    // Sorted and without duplicates already (canonical input, the common case): no sort.
    if (!ordered) members.sort(byKey);
    let out = "{";
    for (let i = 0; i < members.length; i++) {
      const m = members[i]!;
      // A stable sort keeps equal keys in input order: the first or the last of a run is the value that counts.
      if (!ordered) {
        if (
          this.firstWins
            ? i > 0 && members[i - 1]!.key === m.key
            : i + 1 < members.length && members[i + 1]!.key === m.key
        )
          continue;
      }
      out += (out.length > 1 ? "," : "") + m.keyText + ":" + m.value;
    }
    return `${out}}`;
  }

  private array(): string {
    this.pos++;
    this.ws();
    if (this.text.charCodeAt(this.pos) === 93) {
      this.pos++;
      return "[]";
    }
    let out = "[";
    for (;;) {
      out += this.value();
      this.ws();
      const c = this.text.charCodeAt(this.pos++);
      if (c === 93) break;
      if (c !== 44) {
        this.pos--;
        this.fail('expected "," or "]"');
      }
      out += ",";
    }
    return `${out}]`;
  }
}

/** Reads JSON text into a JsonValue tree. */
class TreeReader extends JsonLexer {
  value(): JsonValue {
    this.ws();
    const c = this.text.charCodeAt(this.pos);
    switch (c) {
      case 123: {
        this.pos++;
        const out = new Map<string, JsonValue>();
        this.ws();
        if (this.text.charCodeAt(this.pos) === 125) {
          this.pos++;
          return out;
        }
        for (;;) {
          this.ws();
          if (this.text.charCodeAt(this.pos) !== 34) this.fail("expected a member name");
          const key = this.string();
          this.expect(58, '":"');
          out.set(key, this.value());
          this.ws();
          const d = this.text.charCodeAt(this.pos++);
          if (d === 125) return out;
          if (d !== 44) {
            this.pos--;
            this.fail('expected "," or "}"');
          }
        }
      }
      case 91: {
        this.pos++;
        const out: JsonValue[] = [];
        this.ws();
        if (this.text.charCodeAt(this.pos) === 93) {
          this.pos++;
          return out;
        }
        for (;;) {
          out.push(this.value());
          this.ws();
          const d = this.text.charCodeAt(this.pos++);
          if (d === 93) return out;
          if (d !== 44) {
            this.pos--;
            this.fail('expected "," or "]"');
          }
        }
      }
      case 34:
        return this.string();
      case 116:
        this.literal("true");
        return true;
      case 102:
        this.literal("false");
        return false;
      case 110:
        this.literal("null");
        return null;
      default: {
        const start = this.pos;
        const text = this.number();
        const source = this.text.slice(start, this.pos);
        return source === text ? new JsonNumber(text) : new JsonNumber(text, source);
      }
    }
  }
}

function whole<T>(reader: JsonLexer & { value(): T }): T {
  let out: T;
  try {
    out = reader.value();
  } catch (err) {
    if (err instanceof RangeError) throw new JsonSyntaxError("JSON nested too deeply");
    throw err;
  }
  reader.end();
  return out;
}

/**
 * The canonical text of a JSON document, exact: numbers as `canonicalJsonNumber` (never through a double),
 * object members in `compareMemberKeys` order with a duplicate key's last value (or its first, with
 * `duplicates` "first": the document as MariaDB or SQLite reads it), at every depth,
 * strings as JSON.stringify writes them (only `"`, `\`, control characters and lone surrogates escaped,
 * short escapes where JSON has them), no whitespace. Equal JSON values (with exact-number equality) give
 * equal text and `canonicalJsonText(canonicalJsonText(x)) === canonicalJsonText(x)`. Throws
 * JsonSyntaxError for text that is not strict JSON.
 */
export function canonicalJsonText(text: string, duplicates: JsonDuplicates = "last"): string {
  return whole(new CanonicalWriter(text, duplicates === "first"));
}

/** Parses JSON text into a tree with exact numbers (see JsonValue). Throws JsonSyntaxError. */
export function parseJsonExact(text: string): JsonValue {
  return whole(new TreeReader(text));
}

/** The canonical text of a tree, as `canonicalJsonText` gives for its text. */
export function canonicalJsonOf(value: JsonValue): string {
  return writeTree(value, true);
}

/**
 * JSON text of a tree with its members in their own order (a document written back as an application
 * laid it out), numbers exact, no whitespace. Numbers in canonical text, or with `sourceNumbers` as the
 * parsed document spelled them (`JsonNumber.source`: "402.00" stays "402.00").
 */
export function stringifyJsonExact(value: JsonValue, options: { sourceNumbers?: boolean } = {}): string {
  return writeTree(value, false, options.sourceNumbers === true);
}

function writeTree(value: JsonValue, sorted: boolean, source = false): string {
  if (value === null) return "null";
  if (typeof value === "boolean") return value ? "true" : "false";
  if (typeof value === "string") return JSON.stringify(value);
  if (value instanceof JsonNumber) return source ? (value.source ?? value.text) : value.text;
  if (Array.isArray(value)) return `[${value.map((v) => writeTree(v, sorted, source)).join(",")}]`;
  const keys = [...value.keys()];
  if (sorted) keys.sort(compareMemberKeys);
  return `{${keys.map((k) => `${JSON.stringify(k)}:${writeTree(value.get(k)!, sorted, source)}`).join(",")}}`;
}
