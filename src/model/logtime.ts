/**
 * `netlab logs` as `docker logs` prints it: lines of the raw log, each with the time its first
 * byte came (from the times file assets/stamp.pl writes beside it), `-t` stamps in Docker's
 * RFC3339Nano, and `--since`/`--until` in the forms Docker's CLI takes. Pure: no I/O.
 */

/** A chunk of the log: where it starts in the file, and when it came (µs since the epoch). */
export interface Stamp {
  offset: number;
  us: number;
}

/** A line of the log (its newline kept; the last one may have none), and its time when known. */
export interface LogLine {
  bytes: Buffer;
  us?: number;
  /** The rest of a line whose start an earlier read printed: no stamp of its own. */
  continued?: boolean;
}

/** Go's zero time as Docker prints it: the time of a line written before netlab stamped logs. */
export const ZERO_TIME = '0001-01-01T00:00:00.000000000Z';

/** The times file's complete lines (`OFFSET SECONDS.MICROSECONDS`); a torn last line is left for later. */
export function parseStamps(text: string): Stamp[] {
  const out: Stamp[] = [];
  for (const m of text.matchAll(/^(\d+) (\d+)\.(\d{6})\n/gm)) out.push({ offset: Number(m[1]), us: Number(m[2]) * 1e6 + Number(m[3]) });
  return out;
}

/**
 * Splits `buf` (the log's bytes from offset `base`) into lines, each with the time of the last
 * chunk that starts at or before its first byte. `midLine`: `buf` starts inside a line.
 */
export function splitLines(buf: Buffer, base: number, stamps: Stamp[], midLine = false): LogLine[] {
  const lines: LogLine[] = [];
  let k = -1;
  for (let start = 0; start < buf.length; ) {
    const nl = buf.indexOf(10, start);
    const end = nl < 0 ? buf.length : nl + 1;
    while (k + 1 < stamps.length && stamps[k + 1]!.offset <= base + start) k++;
    const line: LogLine = { bytes: buf.subarray(start, end), ...(k >= 0 ? { us: stamps[k]!.us } : {}) };
    if (start === 0 && midLine) line.continued = true;
    lines.push(line);
    start = end;
  }
  return lines;
}

/** Docker's RFC3339Nano with nine digits, in UTC: `2026-12-02T10:00:00.123456000Z`. */
export function rfc3339Nano(us: number | undefined): string {
  if (us === undefined) return ZERO_TIME;
  const iso = new Date(Math.floor(us / 1000)).toISOString();
  return `${iso.slice(0, 19)}.${String(us % 1e6).padStart(6, '0')}000Z`;
}

export interface LogSelection {
  /** The last lines only (before --since and --until, as Docker's json-file reader does). */
  tail?: number;
  sinceUs?: number;
  untilUs?: number;
  timestamps?: boolean;
}

/** The lines `docker logs` would print, as bytes: tail, then since (a line without a time is before it), then until. */
export function renderLines(lines: LogLine[], s: LogSelection): Buffer {
  const picked = s.tail === undefined ? lines : lines.slice(Math.max(0, lines.length - s.tail));
  const out: Buffer[] = [];
  for (const l of picked) {
    if (s.sinceUs !== undefined && (l.us ?? -Infinity) < s.sinceUs) continue;
    if (s.untilUs !== undefined && (l.us ?? -Infinity) > s.untilUs) break;
    if (s.timestamps && !l.continued) out.push(Buffer.from(`${rfc3339Nano(l.us)} `));
    out.push(l.bytes);
  }
  return Buffer.concat(out);
}

const GO_UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** A Go duration (time.ParseDuration) in ms: `10m`, `1h30m`, `1.5h`, `-2s`, `300ms`. */
export function goDuration(text: string): number | undefined {
  const m = /^([-+]?)((?:(?:\d+\.?\d*|\.\d+)(?:ns|us|µs|ms|s|m|h))+)$/.exec(text);
  if (!m) return text === '0' ? 0 : undefined;
  let ms = 0;
  for (const [, n, unit] of m[2]!.matchAll(/(\d+\.?\d*|\.\d+)(ns|us|µs|ms|s|m|h)/g)) ms += Number(n) * GO_UNITS[unit!]!;
  return m[1] === '-' ? -ms : ms;
}

const DATE = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2})(?::(\d{2})(?::(\d{2})(\.\d{1,9})?)?)?)?(Z|[+-]\d{2}:\d{2})?$/;

/**
 * `--since`/`--until` as Docker's CLI reads them (timetypes.GetTimestamp), in µs since the epoch:
 * a Go duration before `nowMs` (whole seconds), an RFC3339 date and time (local time without a
 * zone; the time or its seconds may be left out), or unix seconds with an optional fraction.
 */
export function parseLogTime(value: string, nowMs: number): number | undefined {
  const d = value === '0' ? undefined : goDuration(value);
  if (d !== undefined) return Math.floor((nowMs - d) / 1000) * 1e6;
  const m = DATE.exec(value);
  if (m) return dateUs(m);
  if (value.includes('-')) return undefined;
  const u = /^(\d+)(?:\.(\d{1,9}))?$/.exec(value);
  return u ? Number(u[1]) * 1e6 + Number((u[2] ?? '').padEnd(6, '0').slice(0, 6)) : undefined;
}

function dateUs(m: RegExpExecArray): number | undefined {
  const [y, mo, d, h = 0, mi = 0, s = 0] = m.slice(1, 7).map((x) => (x === undefined ? undefined : Number(x))) as number[];
  const frac = Number((m[7] ?? '.').slice(1).padEnd(6, '0').slice(0, 6));
  const zone = m[8];
  if (mo! < 1 || mo! > 12 || h > 23 || mi > 59 || s > 59 || new Date(Date.UTC(y!, mo! - 1, d!)).getUTCDate() !== d) return undefined;
  const ms = zone === undefined ? new Date(y!, mo! - 1, d!, h, mi, s).getTime() : Date.UTC(y!, mo! - 1, d!, h, mi, s) - zoneMs(zone);
  return ms * 1000 + frac;
}

const zoneMs = (zone: string) => (zone === 'Z' ? 0 : (zone[0] === '-' ? -1 : 1) * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6))) * 60_000);
