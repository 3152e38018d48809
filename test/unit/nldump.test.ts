import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ipv6 } from '../../src/kernel/nldump.js';
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
