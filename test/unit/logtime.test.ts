import { describe, expect, it } from 'vitest';
import { goDuration, parseLogTime, parseStamps, renderLines, rfc3339Nano, splitLines, ZERO_TIME } from '../../src/model/logtime.js';

const T0 = Date.UTC(2026, 11, 2, 10, 0, 0) * 1000; // µs
const text = (b: Buffer) => b.toString('latin1');

describe('log lines and their times', () => {
  it('reads the times file, leaving a line the stamper is still writing', () => {
    expect(parseStamps('0 1796205600.000001\n12 1796205601.500000\n30 17962')).toEqual([
      { offset: 0, us: 1796205600000001 },
      { offset: 12, us: 1796205601500000 },
    ]);
  });

  it('gives each line the time of the chunk its first byte came in; bytes before any chunk have none', () => {
    const log = Buffer.from('old\none\ntwo\0\x01\nthr');
    const lines = splitLines(log, 0, [
      { offset: 4, us: T0 },
      { offset: 10, us: T0 + 5 },
    ]);
    expect(lines.map((l) => [text(l.bytes), l.us])).toEqual([
      ['old\n', undefined],
      ['one\n', T0],
      ['two\0\x01\n', T0],
      ['thr', T0 + 5],
    ]);
  });

  it('marks the first piece of a read that starts inside a line as its continuation', () => {
    const [first, second] = splitLines(Buffer.from('ial\nnext\n'), 7, [{ offset: 0, us: T0 }], true);
    expect(first).toMatchObject({ continued: true, us: T0 });
    expect(second!.continued).toBeUndefined();
  });

  it("prints Docker's RFC3339Nano, nine digits, UTC; Go's zero time for a line without one", () => {
    expect(rfc3339Nano(T0 + 123456)).toBe('2026-12-02T10:00:00.123456000Z');
    expect(rfc3339Nano(T0 + 7)).toBe('2026-12-02T10:00:00.000007000Z');
    expect(rfc3339Nano(undefined)).toBe(ZERO_TIME);
  });

  it('tail first, then since (a line without a time is before it), then until; stamps on line starts only', () => {
    const lines = splitLines(Buffer.from('a\nb\nc\nd\n'), 0, [
      { offset: 2, us: T0 },
      { offset: 4, us: T0 + 1e6 },
      { offset: 6, us: T0 + 2e6 },
    ]);
    expect(text(renderLines(lines, {}))).toBe('a\nb\nc\nd\n');
    expect(text(renderLines(lines, { sinceUs: T0 + 1e6 }))).toBe('c\nd\n');
    expect(text(renderLines(lines, { sinceUs: 0 }))).toBe('b\nc\nd\n');
    expect(text(renderLines(lines, { untilUs: T0 + 1e6 }))).toBe('a\nb\nc\n');
    expect(text(renderLines(lines, { tail: 3, sinceUs: T0 + 2e6 }))).toBe('d\n');
    expect(text(renderLines(lines, { tail: 2, timestamps: true }))).toBe('2026-12-02T10:00:01.000000000Z c\n2026-12-02T10:00:02.000000000Z d\n');
    expect(text(renderLines(splitLines(Buffer.from('ial\n'), 3, [{ offset: 0, us: T0 }], true), { timestamps: true }))).toBe('ial\n');
  });
});

describe("--since and --until in Docker's forms", () => {
  const now = Date.UTC(2026, 11, 2, 12, 0, 0, 700);
  it('a Go duration is that long before now, in whole seconds', () => {
    expect(goDuration('1h30m')).toBe(5_400_000);
    expect(goDuration('1.5s')).toBe(1500);
    expect(goDuration('-2m')).toBe(-120_000);
    expect(goDuration('300us')).toBe(0.3);
    expect(goDuration('10')).toBeUndefined();
    expect(parseLogTime('10m', now)).toBe(Date.UTC(2026, 11, 2, 11, 50, 0) * 1000);
    expect(parseLogTime('1h30m', now)).toBe(Date.UTC(2026, 11, 2, 10, 30, 0) * 1000);
  });

  it('RFC3339 with a zone, or in local time without one; the seconds or the time may be left out', () => {
    expect(parseLogTime('2026-12-02T10:00:00Z', now)).toBe(T0);
    expect(parseLogTime('2026-12-02T10:00:00.25Z', now)).toBe(T0 + 250_000);
    expect(parseLogTime('2026-12-02T11:00:00+01:00', now)).toBe(T0);
    expect(parseLogTime('2026-12-02T10:00:00', now)).toBe(new Date(2026, 11, 2, 10, 0, 0).getTime() * 1000);
    expect(parseLogTime('2026-12-02T10:30', now)).toBe(new Date(2026, 11, 2, 10, 30).getTime() * 1000);
    expect(parseLogTime('2026-12-02T10', now)).toBe(new Date(2026, 11, 2, 10).getTime() * 1000);
    expect(parseLogTime('2026-12-02', now)).toBe(new Date(2026, 11, 2).getTime() * 1000);
  });

  it('unix seconds, with a fraction; "0" is the epoch', () => {
    expect(parseLogTime('1796205600', now)).toBe(1796205600e6);
    expect(parseLogTime('1796205600.123456789', now)).toBe(1796205600123456);
    expect(parseLogTime('0', now)).toBe(0);
  });

  it('refuses what is none of these', () => {
    for (const bad of ['yesterday', '2026-13-01', '2026-02-30', '2026-12-02T25:00', '10 m', '', '-5']) expect(parseLogTime(bad, now), bad).toBeUndefined();
  });
});
