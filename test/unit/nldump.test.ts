import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ipv6 } from '../../src/kernel/nldump.js';
import { indexAttributes } from '../../src/native/netlink.js';
import { formatIp6, parseIp6 } from '../../src/model/ipv6.js';

/** 16 bytes as a dump carries an IPv6 address, with long zero runs as often as not (what `::` is for). */
const group = fc.oneof(fc.constant(0), fc.constant(0), fc.constant(1), fc.constant(0xffff), fc.integer({ min: 0, max: 0xffff }));
const address = fc.array(group, { minLength: 8, maxLength: 8 }).map((groups) => {
  const b = Buffer.alloc(20);
  for (const [i, g] of groups.entries()) b.writeUInt16BE(g, 2 + 2 * i);
  return b;
});

describe("a dump's IPv6 address", () => {
  it('reads as formatIp6 of the same 128 bits, at any offset, and parses back to them', () => {
    fc.assert(
      fc.property(address, (b) => {
        const bits = (b.readBigUInt64BE(2) << 64n) | b.readBigUInt64BE(10);
        const text = ipv6(b, 2);
        expect(text).toBe(formatIp6(bits));
        expect(parseIp6(text)).toBe(bits);
      }),
      { numRuns: 2000 },
    );
  });

  it('formats the forms a host dumps by the hundred', () => {
    const of = (t: string) => {
      const b = Buffer.alloc(16);
      let n = parseIp6(t)!;
      for (let i = 15; i >= 0; i--, n >>= 8n) b[i] = Number(n & 0xffn);
      return ipv6(b, 0);
    };
    expect(of('fe80::42:aff:fe79:4002')).toBe('fe80::42:aff:fe79:4002');
    expect(of('ff00::')).toBe('ff00::');
    expect(of('::1')).toBe('::1');
    expect(of('::')).toBe('::');
    expect(of('2001:db8:0:0:1:0:0:1')).toBe('2001:db8::1:0:0:1');
  });
});

/** Netlink attributes (type-length-value, padded to 4 bytes) of the given types and payload sizes, then `tail` stray bytes. */
const attributeStream = fc
  .record({
    attrs: fc.array(fc.record({ type: fc.integer({ min: 0, max: 0x7fff }), size: fc.integer({ min: 0, max: 9 }) }), { maxLength: 30 }),
    tail: fc.integer({ min: 0, max: 3 }),
  })
  .map(({ attrs, tail }) => {
    const parts = attrs.map(({ type, size }) => {
      const b = Buffer.alloc(4 + ((size + 3) & ~3), 0xab);
      b.writeUInt16LE(4 + size, 0);
      b.writeUInt16LE(type, 2);
      return b;
    });
    return Buffer.concat([...parts, Buffer.alloc(tail, 0xcd)]);
  });

/** The plain walk of attributes (rtnetlink's layout, the nested flag masked off): the reference indexAttributes must agree with. */
function forEachAttribute(buf: Buffer, from: number, to: number, fn: (type: number, start: number, end: number) => void): void {
  for (let off = from; off + 4 <= to; ) {
    const len = buf.readUInt16LE(off);
    if (len < 4) break;
    fn(buf.readUInt16LE(off + 2) & 0x3fff, off + 4, Math.min(off + len, to));
    off += (len + 3) & ~3;
  }
}

describe("a message's attributes by type", () => {
  it('are where forEachAttribute finds them (the last of a repeated type), and -1 for the absent', () => {
    fc.assert(
      fc.property(attributeStream, fc.integer({ min: 1, max: 40 }), (b, types) => {
        const want = new Map<number, [number, number]>();
        forEachAttribute(b, 0, b.length, (t, s, e) => {
          if (t < types) want.set(t, [s, e]);
        });
        const at = new Int32Array(types).fill(7);
        const end = new Int32Array(types);
        indexAttributes(b, 0, b.length, at, end);
        for (let t = 0; t < types; t++) expect([at[t], at[t]! < 0 ? -1 : end[t]]).toEqual(want.get(t) ?? [-1, -1]);
      }),
      { numRuns: 2000 },
    );
  });
});
