/** Docker's `healthcheck` (compose's keys): the check's command and its timing, in milliseconds. */
import type { PathSegment } from './yamlpos.js';

export interface HealthCheck {
  /** Run by `sh -c` inside the container. */
  shell: string;
  intervalMs: number;
  timeoutMs: number;
  retries: number;
  startPeriodMs: number;
}

export interface RawHealth {
  test?: string | string[];
  interval?: string;
  timeout?: string;
  retries?: number;
  start_period?: string;
  disable?: boolean;
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** A Go duration as compose takes it: `30s`, `1m30s`, `500ms`. */
export function parseDuration(text: string): number | undefined {
  if (!/^(\d+(\.\d+)?(ms|s|m|h))+$/.test(text)) return undefined;
  let ms = 0;
  for (const [, n, unit] of text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) ms += Number(n) * UNITS[unit!]!;
  return ms;
}

const sh = (w: string) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(w) ? w : `'${w.replaceAll("'", `'\\''`)}'`);

/** The check, Docker's defaults filled in (30 s, 30 s, 3, 0 s); undefined for none or `disable`. */
export function parseHealth(raw: RawHealth | undefined, at: (...p: PathSegment[]) => PathSegment[], problem: (p: PathSegment[], m: string) => void): HealthCheck | undefined {
  if (!raw || raw.disable || raw.test === undefined) return undefined;
  const t = raw.test;
  let shell: string | undefined;
  if (typeof t === 'string') shell = t;
  else if (t[0] === 'NONE') return undefined;
  else if (t[0] === 'CMD-SHELL' && t.length === 2) shell = t[1];
  else if (t[0] === 'CMD' && t.length > 1) shell = t.slice(1).map(sh).join(' ');
  if (!shell) {
    problem(at('healthcheck', 'test'), 'must be a string, ["CMD", program, args...], ["CMD-SHELL", "command"] or ["NONE"]');
    return undefined;
  }
  const time = (key: 'interval' | 'timeout' | 'start_period', dflt: number) => {
    const v = raw[key];
    if (v === undefined) return dflt;
    const ms = parseDuration(v);
    if (ms === undefined || ms <= 0) problem(at('healthcheck', key), `"${v}" is not a duration (e.g. 30s, 1m30s, 500ms)`);
    return ms ?? dflt;
  };
  return { shell, intervalMs: time('interval', 30_000), timeoutMs: time('timeout', 30_000), retries: raw.retries ?? 3, startPeriodMs: time('start_period', 0) };
}
