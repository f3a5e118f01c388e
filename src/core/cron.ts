/** Cron schedules ("*\/5 * * * *", "@daily"), read in UTC: parsing and the next time one fires. Pure. */

/** A parsed cron expression: the allowed values of each field, and whether day-of-month/week are restricted. */
export interface CronSchedule {
  readonly text: string;
  readonly minutes: ReadonlySet<number>;
  readonly hours: ReadonlySet<number>;
  readonly days: ReadonlySet<number>;
  readonly months: ReadonlySet<number>;
  /** 0 = Sunday … 6 = Saturday (7 is read as 0). */
  readonly weekdays: ReadonlySet<number>;
  readonly anyDay: boolean;
  readonly anyWeekday: boolean;
}

const MACROS: Readonly<Record<string, string>> = {
  "@yearly": "0 0 1 1 *",
  "@annually": "0 0 1 1 *",
  "@monthly": "0 0 1 * *",
  "@weekly": "0 0 * * 0",
  "@daily": "0 0 * * *",
  "@midnight": "0 0 * * *",
  "@hourly": "0 * * * *",
};

const MONTH_NAMES = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
const DAY_NAMES = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

/** A field of the expression: its range, and the names it also takes (counted from `first`). */
interface Field {
  readonly name: string;
  readonly min: number;
  readonly max: number;
  readonly names?: readonly string[];
  readonly first?: number;
}

const FIELDS: readonly Field[] = [
  { name: "minute", min: 0, max: 59 },
  { name: "hour", min: 0, max: 23 },
  { name: "day of month", min: 1, max: 31 },
  { name: "month", min: 1, max: 12, names: MONTH_NAMES, first: 1 },
  { name: "day of week", min: 0, max: 7, names: DAY_NAMES, first: 0 },
];

/** Why a cron expression was refused, naming the field. */
export class CronError extends Error {
  override readonly name = "CronError";
}

function parseField(text: string, f: Field): Set<number> {
  const out = new Set<number>();
  const value = (v: string): number => {
    const named = f.names?.indexOf(v.toLowerCase()) ?? -1;
    if (named >= 0) return named + (f.first ?? 0);
    if (!/^\d+$/.test(v)) throw new CronError(`${f.name}: "${v}" is not a number`);
    const n = Number(v);
    if (n < f.min || n > f.max) throw new CronError(`${f.name}: ${n} is outside ${f.min}-${f.max}`);
    return n;
  };
  for (const part of text.split(",")) {
    const [range, stepText] = part.split("/") as [string, string | undefined];
    const step = stepText === undefined ? 1 : Number(stepText);
    if (stepText !== undefined && (!/^\d+$/.test(stepText) || step < 1))
      throw new CronError(`${f.name}: step "${stepText}" must be a positive whole number`);
    let lo: number;
    let hi: number;
    if (range === "*") [lo, hi] = [f.min, f.max];
    else if (range.includes("-")) {
      const [a, b] = range.split("-") as [string, string];
      [lo, hi] = [value(a), value(b)];
      if (lo > hi) throw new CronError(`${f.name}: range ${range} runs backwards`);
    } else {
      lo = value(range);
      hi = stepText === undefined ? lo : f.max;
    }
    for (let n = lo; n <= hi; n += step) out.add(n);
  }
  return out;
}

/** Parses a five-field cron expression (minute hour day-of-month month day-of-week) or a macro (@daily…). */
export function parseCron(text: string): CronSchedule {
  const expr = MACROS[text.trim().toLowerCase()] ?? text.trim();
  const parts = expr.split(/\s+/);
  if (parts.length !== 5)
    throw new CronError(
      `expected five fields (minute hour day-of-month month day-of-week), got ${parts.length}`,
    );
  const [minutes, hours, days, months, weekdays] = parts.map((p, i) => parseField(p, FIELDS[i]!)) as [
    Set<number>,
    Set<number>,
    Set<number>,
    Set<number>,
    Set<number>,
  ];
  if (weekdays.delete(7)) weekdays.add(0);
  return {
    text,
    minutes,
    hours,
    days,
    months,
    weekdays,
    anyDay: parts[2] === "*",
    anyWeekday: parts[4] === "*",
  };
}

/** Whether `text` is a cron expression (so a schedule is not a duration). */
export function isCron(text: string): boolean {
  try {
    parseCron(text);
    return true;
  } catch {
    return false;
  }
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/**
 * The first time after `afterMs` (strictly) at which the schedule fires, in milliseconds since the epoch,
 * on whole minutes in UTC. As in cron, when both day fields are restricted a day matching either fires.
 */
export function nextCronTime(s: CronSchedule, afterMs: number): number {
  let t = Math.floor(afterMs / MINUTE) * MINUTE + MINUTE;
  // Four years and a day covers every combination (29 February included); past that nothing matches.
  const limit = t + (4 * 366 + 1) * DAY;
  while (t <= limit) {
    const d = new Date(t);
    const dayOk = (() => {
      const dom = s.days.has(d.getUTCDate());
      const dow = s.weekdays.has(d.getUTCDay());
      if (s.anyDay && s.anyWeekday) return true;
      if (s.anyDay) return dow;
      if (s.anyWeekday) return dom;
      return dom || dow;
    })();
    if (!s.months.has(d.getUTCMonth() + 1) || !dayOk) {
      t = Math.floor(t / DAY) * DAY + DAY;
      continue;
    }
    if (!s.hours.has(d.getUTCHours())) {
      t = Math.floor(t / HOUR) * HOUR + HOUR;
      continue;
    }
    if (!s.minutes.has(d.getUTCMinutes())) {
      t += MINUTE;
      continue;
    }
    return t;
  }
  throw new CronError(`${s.text}: never fires (no date matches it)`);
}
