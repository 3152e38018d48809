/**
 * An impairment as tc qdiscs, and back. The layout is Mininet's TCLink: a rate is a tbf at the
 * root (handle 1:); delay, jitter and loss a netem, under the tbf (parent 1:1, handle 10:) or at
 * the root (handle 10:) without a rate. Pure: the commands, and the reading of `tc qdisc show`.
 */
import { formatTime, isEmpty, needsNetem, type Impairment } from './impair.js';

/** How long a packet may wait for the tbf's tokens before it is dropped (the queue's length in time). */
export const TBF_LATENCY = '50ms';

/** The tbf's bucket: 10 ms at the rate, at least 16 KiB (a full frame of any MTU up to 9000 fits, and GSO packets are split). */
export const tbfBurst = (rateBit: number) => Math.max(Math.ceil(rateBit / 8 / 100), 16384);

const layout = (i: Impairment | undefined) => `${i?.rateBit !== undefined ? 'tbf' : ''}+${needsNetem(i) ? 'netem' : ''}`;

function netemArgs(i: Impairment): string[] {
  const args = ['netem'];
  if (i.delayUs !== undefined) args.push('delay', formatTime(i.delayUs), ...(i.jitterUs !== undefined ? [formatTime(i.jitterUs)] : []));
  if (i.lossPercent !== undefined) args.push('loss', `${i.lossPercent}%`);
  return args;
}

/**
 * The `tc` argument lists (without `-n NS`) that take `dev` from `have` to `want`. The qdiscs are
 * changed in place when their layout stays (no moment without shaping), made anew when it changes.
 */
export function tcArgs(dev: string, want: Impairment, have: Impairment | undefined): string[][] {
  const out: string[][] = [];
  const sameLayout = layout(want) === layout(have);
  if (!isEmpty(have) && (!sameLayout || isEmpty(want))) out.push(['qdisc', 'del', 'dev', dev, 'root']);
  if (isEmpty(want)) return out;
  const verb = sameLayout && !isEmpty(have) ? 'change' : 'replace';
  if (want.rateBit !== undefined) {
    out.push(['qdisc', verb, 'dev', dev, 'root', 'handle', '1:', 'tbf', 'rate', `${want.rateBit}bit`, 'burst', String(tbfBurst(want.rateBit)), 'latency', TBF_LATENCY]);
  }
  if (needsNetem(want)) {
    const at = want.rateBit !== undefined ? ['parent', '1:1'] : ['root'];
    out.push(['qdisc', verb, 'dev', dev, ...at, 'handle', '10:', ...netemArgs(want)]);
  }
  return out;
}

/** `20ms`, `1.5ms`, `500us`, `1s` as tc prints them → microseconds. */
function tcTime(word: string | undefined): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(us|ms|s)$/.exec(word ?? '');
  if (!m) return undefined;
  return Math.round(Number(m[1]) * { us: 1, ms: 1000, s: 1e6 }[m[2] as 'us' | 'ms' | 's']);
}

/** `10Mbit`, `512Kbit`, `1Gbit`, `800bit` as tc prints them → bits per second. */
function tcRate(word: string | undefined): number | undefined {
  const m = /^(\d+(?:\.\d+)?)([KMGT]?)bit$/i.exec(word ?? '');
  if (!m) return undefined;
  return Math.round(Number(m[1]) * { '': 1, K: 1e3, M: 1e6, G: 1e9, T: 1e12 }[m[2]!.toUpperCase() as '' | 'K' | 'M' | 'G' | 'T']);
}

/**
 * `tc qdisc show` of a namespace → the impairment of each interface: what its root tbf and its
 * netem (at the root or under the tbf) say. An interface with other qdiscs (noqueue) has none.
 */
export function parseQdiscs(text: string): Map<string, Impairment> {
  const out = new Map<string, Impairment>();
  for (const line of text.split('\n')) {
    const w = line.trim().split(/\s+/);
    if (w[0] !== 'qdisc' || (w[1] !== 'tbf' && w[1] !== 'netem')) continue;
    const dev = w[w.indexOf('dev') + 1];
    if (!dev || w.indexOf('dev') < 0) continue;
    const root = w.includes('root');
    if (!root && !(w[1] === 'netem' && w[w.indexOf('parent') + 1] === '1:1')) continue;
    const i = out.get(dev) ?? {};
    if (w[1] === 'tbf') {
      const rate = tcRate(w[w.indexOf('rate') + 1]);
      if (rate !== undefined) i.rateBit = rate;
    } else readNetem(w, i);
    out.set(dev, i);
  }
  return out;
}

function readNetem(w: string[], i: Impairment): void {
  const d = w.indexOf('delay');
  if (d >= 0) {
    const delay = tcTime(w[d + 1]);
    if (delay !== undefined) i.delayUs = delay;
    const jitter = tcTime(w[d + 2]);
    if (delay !== undefined && jitter !== undefined) i.jitterUs = jitter;
  }
  const l = w.indexOf('loss');
  if (l >= 0) {
    const word = w[l + 1] === 'random' ? w[l + 2] : w[l + 1];
    const m = /^(\d+(?:\.\d+)?(?:e-?\d+)?)%$/.exec(word ?? '');
    if (m) i.lossPercent = Number(Number(m[1]).toPrecision(6));
  }
}
