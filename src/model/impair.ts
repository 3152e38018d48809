/**
 * Link impairments (Mininet's TCLink, containerlab's `tools netem`): delay, jitter, loss and a
 * rate on a container's interface. Pure: parsing the units people write, the canonical form
 * netlab compares, and the text it prints.
 */

/** One interface's impairment, in canonical units; an empty object is "none". */
export interface Impairment {
  /** One-way delay and its jitter, in microseconds (netem). */
  delayUs?: number;
  jitterUs?: number;
  /** Random loss, in percent (netem). */
  lossPercent?: number;
  /** Rate in bits per second (tbf). */
  rateBit?: number;
}

/** What a user writes: `delay: 20ms`, `jitter: 5ms`, `loss: 1%`, `rate: 10mbit`. */
export interface ImpairInput {
  delay?: string | number;
  jitter?: string | number;
  loss?: string | number;
  rate?: string | number;
}

export const IMPAIR_KEYS = ['delay', 'jitter', 'loss', 'rate'] as const;
export type ImpairKey = (typeof IMPAIR_KEYS)[number];

const TIME_UNITS: Record<string, number> = { us: 1, usec: 1, ms: 1000, msec: 1000, s: 1e6, sec: 1e6 };
const RATE_UNITS: Record<string, number> = { bit: 1, kbit: 1e3, mbit: 1e6, gbit: 1e9 };
/** Longest delay or jitter netlab takes: a minute (netem keeps every packet that long in its queue). */
const MAX_DELAY_US = 60e6;
const MIN_RATE = 8e3;
const MAX_RATE = 100e9;

export class ImpairError extends Error {
  constructor(
    readonly key: ImpairKey,
    message: string,
  ) {
    super(message);
  }
}

/** `20ms`, `1.5s`, `500us` → microseconds. A bare number is refused: a unit says what is meant. */
export function parseTime(key: 'delay' | 'jitter', text: string | number): number {
  const m = /^\s*(-?\d+(?:\.\d+)?)\s*([a-z]+)\s*$/i.exec(String(text));
  const unit = m?.[2]?.toLowerCase();
  if (!m || !unit || TIME_UNITS[unit] === undefined) throw new ImpairError(key, `"${text}" is not a time: write a number and a unit, e.g. 20ms, 1.5s, 500us`);
  const us = Math.round(Number(m[1]) * TIME_UNITS[unit]!);
  if (us < 0) throw new ImpairError(key, `"${text}": a ${key} cannot be negative`);
  if (us > MAX_DELAY_US) throw new ImpairError(key, `"${text}" is more than netlab's limit of 60s`);
  return us;
}

/** `1%`, `0.5%`, or a bare number of percent → percent, 0-100. */
export function parseLoss(text: string | number): number {
  const m = /^\s*(-?\d+(?:\.\d+)?)\s*(%?)\s*$/.exec(String(text));
  if (!m) throw new ImpairError('loss', `"${text}" is not a percentage: write e.g. 1% or 0.5%`);
  const p = Number(m[1]);
  if (p < 0 || p > 100) throw new ImpairError('loss', `"${text}" is out of range: loss is between 0% and 100%`);
  return p;
}

/** `10mbit`, `512kbit`, `1gbit` (tc's units, in bits per second) → bits per second. */
export function parseRate(text: string | number): number {
  const m = /^\s*(-?\d+(?:\.\d+)?)\s*([a-z]+)\s*$/i.exec(String(text));
  const unit = m?.[2]?.toLowerCase();
  if (m && unit && /^[kmgt]?bps$/.test(unit)) {
    const bits = `${Number(m[1]) * 8}${unit.replace('bps', 'bit')}`;
    throw new ImpairError(
      'rate',
      `"${text}": tc reads ${unit} as bytes per second, which is easy to misread; write bits per second: ${bits} (or ${m[1]}${unit.replace('bps', 'bit')} if you meant bits)`,
    );
  }
  if (!m || !unit || RATE_UNITS[unit] === undefined) throw new ImpairError('rate', `"${text}" is not a rate: write a number and a unit, e.g. 10mbit, 512kbit, 1gbit`);
  const bit = Math.round(Number(m[1]) * RATE_UNITS[unit]!);
  if (bit < MIN_RATE || bit > MAX_RATE) throw new ImpairError('rate', `"${text}" is out of range: a rate is between 8kbit and 100gbit`);
  return bit;
}

/** The impairment a user wrote; every problem is thrown as an ImpairError naming its key. */
export function parseImpairment(input: ImpairInput): Impairment {
  const out: Impairment = {};
  if (input.delay !== undefined) out.delayUs = parseTime('delay', input.delay);
  if (input.jitter !== undefined) {
    if (input.delay === undefined) throw new ImpairError('jitter', 'jitter varies the delay: give a delay too (e.g. delay: 20ms, jitter: 5ms)');
    out.jitterUs = parseTime('jitter', input.jitter);
  }
  if (input.loss !== undefined) out.lossPercent = parseLoss(input.loss);
  if (input.rate !== undefined) out.rateBit = parseRate(input.rate);
  return out;
}

export const isEmpty = (i: Impairment | undefined) => !i || Object.values(i).every((v) => v === undefined);

/** Delay, jitter or loss: what needs netem (rate alone is tbf's). */
export const needsNetem = (i: Impairment | undefined) => !!i && (i.delayUs !== undefined || i.jitterUs !== undefined || i.lossPercent !== undefined);

/** Equal within what the kernel keeps (tbf keeps bytes per second, tc prints rounded values). */
export function sameImpairment(a: Impairment | undefined, b: Impairment | undefined): boolean {
  const x = a ?? {};
  const y = b ?? {};
  const close = (p: number | undefined, q: number | undefined) => (p === undefined || q === undefined ? (p ?? 0) === (q ?? 0) : Math.abs(p - q) <= Math.max(1, Math.abs(p) * 0.01));
  return close(x.delayUs, y.delayUs) && close(x.jitterUs, y.jitterUs) && close(x.lossPercent, y.lossPercent) && close(x.rateBit, y.rateBit);
}

/** `20ms`, `1.5ms`, `500us`, `2s`: as tc reads it back. */
export function formatTime(us: number): string {
  if (us >= 1e6 && us % 1e5 === 0) return `${us / 1e6}s`;
  if (us >= 1000 && us % 10 === 0) return `${us / 1000}ms`;
  return `${us}us`;
}

/** `10mbit`, `1.5mbit`, `512kbit`, `1gbit`. */
export function formatRate(bit: number): string {
  for (const [unit, n] of [
    ['gbit', 1e9],
    ['mbit', 1e6],
    ['kbit', 1e3],
  ] as const) {
    if (bit >= n && (bit / n) * 1000 === Math.round((bit / n) * 1000)) return `${bit / n}${unit}`;
  }
  return `${bit}bit`;
}

/** The impairment in the topology's own words: `{ delay: '20ms', jitter: '5ms', loss: '1%', rate: '10mbit' }`. */
export function impairmentWords(i: Impairment): Partial<Record<ImpairKey, string>> {
  const out: Partial<Record<ImpairKey, string>> = {};
  if (i.delayUs !== undefined) out.delay = formatTime(i.delayUs);
  if (i.jitterUs !== undefined) out.jitter = formatTime(i.jitterUs);
  if (i.lossPercent !== undefined) out.loss = `${i.lossPercent}%`;
  if (i.rateBit !== undefined) out.rate = formatRate(i.rateBit);
  return out;
}

/** `delay 20ms jitter 5ms loss 1% rate 10mbit`, or `none`. */
export function impairmentText(i: Impairment | undefined): string {
  const w = impairmentWords(i ?? {});
  const parts = IMPAIR_KEYS.filter((k) => w[k] !== undefined).map((k) => `${k} ${w[k]}`);
  return parts.length > 0 ? parts.join(' ') : 'none';
}
