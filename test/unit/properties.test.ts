/**
 * Property tests (fast-check) of the pure parts that must never hand out a thing twice: IPAM,
 * interface names, port specs, and whole topologies resolved into labs.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { allocateAddresses, PoolExhaustedError } from '../../src/model/ipam.js';
import { broadcast, contains, formatIp, type Cidr } from '../../src/model/ipv4.js';
import { containerIfName, defaultBridgeName, IFNAME, IFNAMSIZ_MAX, LAB_NAME, netnsName, OBJECT_NAME, vethHostNames } from '../../src/model/names.js';
import { eachPort, parseExpose, parsePublish, portCount, PortSpecError } from '../../src/model/ports.js';
import { parseTopology } from '../../src/topology/load.js';
import { resolveLab } from '../../src/model/lab.js';
import { emptyHostContext } from '../helpers/context.js';
import { InputError } from '../../src/errors.js';

const labName = fc.stringMatching(LAB_NAME);
const objectName = fc.stringMatching(OBJECT_NAME);

const subnetArb = fc.record({ a: fc.integer({ min: 1, max: 223 }), b: fc.integer({ min: 0, max: 255 }), prefix: fc.integer({ min: 22, max: 30 }) }).map(({ a, b, prefix }) => {
  const base = ((a << 24) | (b << 16)) >>> 0;
  const network = (base & (~0 << (32 - prefix))) >>> 0;
  return { network, prefix } as Cidr;
});

describe('IPAM', () => {
  it('never gives one address twice, stays inside the subnet, avoids network, broadcast and gateway, honours statics', () => {
    fc.assert(
      fc.property(
        subnetArb,
        fc.integer({ min: 0, max: 60 }),
        fc.array(fc.nat(), { maxLength: 60 }),
        fc.array(fc.integer({ min: -5, max: 2000 }), { maxLength: 60 }),
        (subnet, n, fixedPicks, previousPicks) => {
          const size = 2 ** (32 - subnet.prefix);
          const gateway = subnet.network + 1;
          const usable = Array.from({ length: size - 3 }, (_, i) => subnet.network + 2 + i);
          const fixedUsed = new Set<number>();
          const requests = Array.from({ length: n }, (_, i) => {
            const pick = fixedPicks[i];
            let fixed: number | undefined;
            if (pick !== undefined && pick % 3 === 0 && usable.length > 0) {
              const candidate = usable[pick % usable.length]!;
              if (!fixedUsed.has(candidate)) fixedUsed.add((fixed = candidate));
            }
            const prev = previousPicks[i];
            return { name: `c${i}`, fixed, previous: prev === undefined ? undefined : subnet.network + prev };
          });
          let got: Map<string, number>;
          try {
            got = allocateAddresses(subnet, gateway, requests);
          } catch (e) {
            expect(e).toBeInstanceOf(PoolExhaustedError);
            expect(n).toBeGreaterThan(usable.length);
            return;
          }
          const values = [...got.values()];
          expect(new Set(values).size).toBe(n);
          for (const ip of values) {
            expect(contains(subnet, ip)).toBe(true);
            expect([subnet.network, broadcast(subnet), gateway]).not.toContain(ip);
          }
          for (const r of requests) if (r.fixed !== undefined) expect(got.get(r.name)).toBe(r.fixed);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('interface names', () => {
  const pairsArb = fc.uniqueArray(fc.record({ container: objectName, network: objectName }), { maxLength: 80, selector: (p) => `${p.container}/${p.network}` });

  it('host veth names are distinct, fit IFNAMSIZ and are valid interface names', () => {
    fc.assert(
      fc.property(labName, pairsArb, (lab, pairs) => {
        const names = [...vethHostNames(lab, pairs).values()];
        expect(new Set(names).size).toBe(pairs.length);
        for (const n of names) {
          expect(Buffer.byteLength(n)).toBeLessThanOrEqual(IFNAMSIZ_MAX);
          expect(n).toMatch(IFNAME);
        }
      }),
    );
  });

  it('stay distinct even when the hash collides all the time', () => {
    // A one-hex-digit hash: 16 values for up to 80 pairs, so most first choices collide.
    const tiny = (...parts: string[]) => (parts.join('\0').length % 16).toString(16) + parts.length.toString(16) + (parts.at(-1) ?? '').length.toString(16).slice(0, 6);
    fc.assert(
      fc.property(labName, pairsArb, (lab, pairs) => {
        const names = [...vethHostNames(lab, pairs, tiny).values()];
        expect(new Set(names).size).toBe(pairs.length);
        for (const n of names) expect(Buffer.byteLength(n)).toBeLessThanOrEqual(IFNAMSIZ_MAX);
      }),
    );
  });

  it('bridge names fit IFNAMSIZ, never look like a veth, and netns names are distinct per container', () => {
    fc.assert(
      fc.property(labName, fc.uniqueArray(objectName, { maxLength: 50 }), (lab, names) => {
        for (const n of names) {
          const br = defaultBridgeName(lab, n);
          expect(Buffer.byteLength(br)).toBeLessThanOrEqual(IFNAMSIZ_MAX);
          expect(br).toMatch(IFNAME);
          expect(br.startsWith('nlv')).toBe(false);
        }
        expect(new Set(names.map((n) => netnsName(lab, n))).size).toBe(names.length);
        expect(new Set(names.map((_, i) => containerIfName(i))).size).toBe(names.length);
      }),
    );
  });
});

describe('port specs', () => {
  const port = fc.integer({ min: 1, max: 65535 });
  const proto = fc.constantFrom('', '/tcp', '/udp', '/sctp', '/UDP');

  it('a valid publish spec maps port for port, within 1-65535', () => {
    fc.assert(
      fc.property(port, fc.integer({ min: 0, max: 20 }), port, fc.option(fc.constantFrom('127.0.0.1', '0.0.0.0', '10.1.2.3')), proto, (host, len, ctr, ip, p) => {
        fc.pre(host + len <= 65535 && ctr + len <= 65535);
        const range = (a: number) => (len ? `${a}-${a + len}` : `${a}`);
        const spec = `${ip ? `${ip}:` : ''}${range(host)}:${range(ctr)}${p}`;
        // One binding for the whole range; port by port, it maps host + i to ctr + i.
        const [range0, ...more] = parsePublish(spec);
        expect(more).toEqual([]);
        expect(portCount(range0!)).toBe(len + 1);
        eachPort(range0!).forEach((b, i) => {
          expect(b.hostPort).toBe(host + i);
          expect(b.containerPort).toBe(ctr + i);
          expect(b.hostIp).toBe(ip ?? '0.0.0.0');
          expect(b.proto).toBe(p ? p.slice(1).toLowerCase() : 'tcp');
        });
      }),
    );
  });

  it('any text either parses into valid ports or is refused with a PortSpecError, never anything else', () => {
    const text = fc.oneof(fc.string(), fc.stringMatching(/^[0-9:./a-z-]{0,24}$/), fc.integer({ min: -100000, max: 100000 }));
    fc.assert(
      fc.property(text, (spec) => {
        for (const parse of [parsePublish, parseExpose]) {
          try {
            for (const b of parse(spec)) {
              const ports = 'containerPort' in b ? [b.containerPort, ...(b.hostPort ? [b.hostPort] : [])] : [b.port];
              for (const p of ports) expect(p >= 1 && p <= 65535).toBe(true);
            }
          } catch (e) {
            expect(e).toBeInstanceOf(PortSpecError);
          }
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('whole topologies', () => {
  const ctx = emptyHostContext;

  it('no two containers share an address on a network, or a host interface name', () => {
    let accepted = 0;
    const topo = fc.record({
      nets: fc.integer({ min: 1, max: 3 }),
      prefix: fc.integer({ min: 24, max: 28 }),
      containers: fc.uniqueArray(fc.record({ name: objectName, nets: fc.array(fc.nat(2), { minLength: 1, maxLength: 3 }), ipPick: fc.option(fc.nat(200)) }), {
        minLength: 1,
        maxLength: 40,
        selector: (c) => c.name,
      }),
    });
    fc.assert(
      fc.property(topo, ({ nets, prefix, containers }) => {
        const netNames = Array.from({ length: nets }, (_, i) => `n${i}`);
        const yaml = [
          'networks:',
          ...netNames.map((n, i) => `  ${n}: { subnet: 10.104.${100 + i}.0/${prefix} }`),
          'containers:',
          ...containers.map((c) => {
            const ns = [...new Set(c.nets.map((k) => netNames[k % nets]!))];
            const ip = c.ipPick != null ? `, ip: 10.104.${100 + netNames.indexOf(ns[0]!)}.${2 + (c.ipPick % (2 ** (32 - prefix) - 3))}` : '';
            return `  "${c.name}": { networks: [${ns.join(', ')}]${ip} }`;
          }),
        ].join('\n');
        let topology: ReturnType<typeof parseTopology>;
        try {
          topology = parseTopology(yaml, { source: 'p.yaml', defaultName: 'prop' });
        } catch (e) {
          expect(e).toBeInstanceOf(InputError);
          return; // refused (a pool too small, a duplicate static): refusing is always allowed
        }
        const lab = resolveLab(topology, ctx);
        accepted++;
        const seen = new Set<string>();
        const veths = new Set<string>();
        for (const c of lab.containers)
          for (const i of c.interfaces) {
            const key = `${i.network}/${i.ip}`;
            expect(seen.has(key), key).toBe(false);
            seen.add(key);
            expect(veths.has(i.hostVeth)).toBe(false);
            veths.add(i.hostVeth);
            expect(i.ip).not.toBe(i.gateway);
            expect(Buffer.byteLength(i.hostVeth)).toBeLessThanOrEqual(IFNAMSIZ_MAX);
          }
        expect(formatIp(lab.networks[0]!.gateway)).toMatch(/^10\.104\./);
      }),
      { numRuns: 200 },
    );
    // Not vacuous: most random topologies are valid and get resolved.
    expect(accepted).toBeGreaterThan(50);
  });
});
