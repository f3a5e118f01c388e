/** Maps a dataset key to its Redis key name (prefix + encoded key parts) and back. Pure: no I/O. */
import type { Key } from "../../core/model.js";

/**
 * The Redis key of a record is `prefix` followed by its key:
 * - one key column: the column's canonical text as is (`customer:42`, `customer:a:b` for the text key
 *   "a:b"), so the names applications already use for single keys are read unchanged;
 * - several key columns: the parts joined with ':', each part with '\' written as '\\' and ':' as '\:'
 *   (`order:eu:17`, `order:a\:b:1` for ["a:b", "1"]), so any part, even one holding ':', decodes back.
 *
 * A NULL part of a composite key (a nullable unique key's NULL) is written `\N`, which no text part can
 * spell (a text `\N` is written `\\N`): `order:eu:\N` is ["eu", NULL]. A one-column key has no spare
 * spelling (every text is some text key's name), so a NULL one-column key has no Redis key at all
 * (`nameable` is false, and `encode` throws).
 *
 * Names are compared as text: a name whose parts are not the canonical text of the key (`customer:007`
 * for the integer 7) is not a record of the dataset, because writes would go to another name.
 */
export class RedisKeyCodec {
  constructor(
    readonly prefix: string,
    readonly width: number,
  ) {}

  /** False for a key no Redis key can name: a one-column key that is NULL. */
  nameable(key: Key): boolean {
    return this.width !== 1 || key[0] !== null;
  }

  /** The Redis key of a record; throws for a key that is not `nameable`. */
  encode(key: Key): string {
    if (this.width === 1) {
      const only = key[0];
      if (only === null || only === undefined)
        throw new Error("a one-column key that is NULL has no Redis key name (docs/redis.md)");
      return this.prefix + only;
    }
    let out = this.prefix;
    for (let i = 0; i < key.length; i++) {
      if (i > 0) out += ":";
      const part = key[i];
      if (part === null || part === undefined) out += "\\N";
      else out += part.includes("\\") || part.includes(":") ? part.replace(/[\\:]/g, "\\$&") : part;
    }
    return out;
  }

  /**
   * The raw key parts of a Redis key, or a reason why it is not a record key of this shape (not under the
   * prefix, wrong number of parts, a dangling escape). The parts still need reading as the key's types.
   */
  decode(name: string): (string | null)[] | string {
    if (!name.startsWith(this.prefix)) return `it does not start with the prefix "${this.prefix}"`;
    const rest = name.slice(this.prefix.length);
    if (this.width === 1) return [rest];
    const parts: (string | null)[] = [];
    let part = "";
    for (let i = 0; i < rest.length; i++) {
      const ch = rest[i]!;
      if (
        ch === "\\" &&
        rest[i + 1] === "N" &&
        part === "" &&
        (i + 2 === rest.length || rest[i + 2] === ":")
      ) {
        // A whole part `\N` is NULL (a text part never holds an unescaped '\').
        parts.push(null);
        i += 2;
        if (i === rest.length)
          return parts.length === this.width ? parts : widthReason(parts.length, this.width);
        continue;
      }
      if (ch === "\\") {
        const next = rest[i + 1];
        if (next !== "\\" && next !== ":")
          return `'\\' at position ${i} escapes neither '\\', ':' nor (as a whole part) 'N'`;
        part += next;
        i++;
      } else if (ch === ":") {
        parts.push(part);
        part = "";
      } else {
        part += ch;
      }
    }
    parts.push(part);
    if (parts.length !== this.width) return widthReason(parts.length, this.width);
    return parts;
  }

  /** The SCAN MATCH pattern for every key under the prefix (glob characters of the prefix escaped). */
  pattern(): string {
    return `${this.prefix.replace(/[\\*?[\]]/g, "\\$&")}*`;
  }
}

/**
 * A 32-bit FNV-1a hash of a key name's UTF-16 code units: a cheap, stable way to split names into
 * partitions that are the same on every pass.
 */
export function nameHash(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) {
    h ^= name.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * Why a name under the prefix that `decode` refuses stops the scan and the change feed alike (docs/redis.md:
 * every key under the prefix must be a record of the dataset): the scan's and the feed's one wording.
 */
export function notARecordKey(name: string, why: string): string {
  return `${name} is not a record key of this dataset: ${why}`;
}

function widthReason(parts: number, width: number): string {
  return `it has ${parts} ':'-separated key part(s), the key has ${width}`;
}
