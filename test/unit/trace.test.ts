/** The pure parts of `netlab trace`: reading nft's trace lines, the probe's path from them, the marking rules. */
import { describe, expect, it } from 'vitest';
import { flagWords, parseTraceLine } from '../../src/trace/parse.js';
import { buildLegs, endOf } from '../../src/trace/path.js';
import { matchExprs, traceTableScript } from '../../src/trace/marks.js';
import { zipRules } from '../../src/trace/rules.js';

const L = 'trace id 92f893ff ip filter';
const SYN =
  'iif "nlbr1" oif "nlbr1" ether saddr 02:42:0a:f5:01:04 ip saddr 10.245.1.4 ip daddr 10.245.1.2 ip dscp cs0 ip ecn not-ect ip ttl 64 ip id 16496 ip length 60 tcp sport 45555 tcp dport 80 tcp flags == syn tcp window 64240';

describe('parseTraceLine', () => {
  it('reads a packet line: interfaces, addresses, ports, IP id, flags', () => {
    expect(parseTraceLine(`${L} FORWARD packet: ${SYN}`)).toEqual({
      kind: 'packet',
      id: '92f893ff',
      family: 'ip',
      table: 'filter',
      chain: 'FORWARD',
      packet: { iif: 'nlbr1', oif: 'nlbr1', saddr: '10.245.1.4', daddr: '10.245.1.2', ipId: 16496, proto: 'tcp', sport: 45555, dport: 80, tcpFlags: 'syn' },
    });
  });
  it('reads a rule line without its counters, with its handle and verdict', () => {
    expect(parseTraceLine(`${L} NL-x-FWD rule iifname "nlbr1" oifname "nlbr1"  counter packets 1 bytes 60 drop # handle 1239 (verdict drop)`)).toEqual({
      kind: 'rule',
      id: '92f893ff',
      family: 'ip',
      table: 'filter',
      chain: 'NL-x-FWD',
      text: 'iifname "nlbr1" oifname "nlbr1" drop',
      handle: 1239,
      verdict: 'drop',
    });
    expect(parseTraceLine(`${L} FORWARD rule  counter packets 0 bytes 0 jump NL-x-FWD # handle 7 (verdict jump NL-x-FWD)`)).toMatchObject({ verdict: 'jump NL-x-FWD', text: 'jump NL-x-FWD' });
  });
  it('reads ICMP, policies, and ignores what is not a trace line', () => {
    const p = parseTraceLine('trace id 1 ip t c packet: oif "eth0" ip saddr 1.1.1.1 ip daddr 2.2.2.2 ip id 5 icmp type destination-unreachable icmp code port-unreachable icmp id 0');
    expect(p).toMatchObject({ packet: { proto: 'icmp', icmpType: 'destination-unreachable', icmpCode: 'port-unreachable', icmpId: 0 } });
    expect(parseTraceLine(`${L} FORWARD policy drop `)).toMatchObject({ kind: 'policy', verdict: 'drop' });
    expect(parseTraceLine('Error: something')).toBeUndefined();
  });
  it('names TCP flags as words', () => {
    expect(flagWords('syn')).toBe('SYN');
    expect(flagWords('syn | ack')).toBe('SYN-ACK');
    expect(flagWords('0x14')).toBe('RST-ACK');
  });
});

describe('the path of a probe', () => {
  const lines = (xs: string[]) => xs.map((line, i) => ({ at: i, line }));
  const input = {
    lab: 'x',
    proto: 'tcp' as const,
    key: 45555,
    ruleText: (_s: string, l: { text: string }) => `${l.text} comment "netlab:${/NL-([a-z]+)-/.exec(l.text)?.[1] ?? 'x'}"`,
    spaces: [
      { label: 'stranger', lines: lines([`trace id a ip nltrace-x-1 t_out packet: oif "eth0" ip saddr 10.245.1.4 ip daddr 10.245.1.2 ip id 16496 tcp sport 45555 tcp dport 80 tcp flags == syn`]) },
      {
        label: 'host',
        lines: lines([
          `${L} FORWARD packet: ${SYN}`,
          `${L} FORWARD rule counter packets 0 bytes 0 jump NL-other-FWD # handle 1 (verdict jump NL-other-FWD)`,
          `${L} FORWARD rule counter packets 0 bytes 0 jump NL-x-FWD # handle 2 (verdict jump NL-x-FWD)`,
          `${L} NL-x-FWD rule iifname "nlbr1" oifname "nlbr1" drop # handle 3 (verdict drop)`,
        ]),
      },
      { label: 'web', lines: [] },
    ],
  };
  it("follows the first packet namespace by namespace, shows this lab's rules and the one that dropped it", () => {
    const legs = buildLegs(input);
    expect(legs.forward.packet).toBe('SYN');
    expect(legs.forward.steps.map((s) => `${s.namespace} ${s.hook}`)).toEqual(['stranger OUTPUT', 'host FORWARD']);
    // The other lab's jump led nowhere: not shown.
    expect(legs.forward.steps[1]!.rules.map((r) => r.verdict)).toEqual(['jump NL-x-FWD', 'drop']);
    expect(legs.reply).toBeUndefined();
    const end = endOf(legs.forward, legs.reply, 'timeout');
    expect(end).toMatchObject({ kind: 'dropped', namespace: 'host', rule: { chain: 'NL-x-FWD', lab: 'x' } });
  });
  it('tells a NAT rewrite by the header changing between two chains of one namespace', () => {
    const host = [
      `trace id b ip nltrace-x-1 t_out packet: oif "lo" ip saddr 127.0.0.1 ip daddr 127.0.0.1 ip id 9 tcp sport 45555 tcp dport 8080 tcp flags == syn`,
      `trace id b ip nat NL-x-DNAT rule tcp dport 8080 dnat to 10.0.0.2:80 # handle 4 (verdict accept)`,
      `trace id b ip nat POSTROUTING packet: oif "br0" ip saddr 127.0.0.1 ip daddr 10.0.0.2 ip id 9 tcp sport 45555 tcp dport 80 tcp flags == syn`,
      `trace id b ip nltrace-x-1 t_post packet: oif "br0" ip saddr 10.0.0.1 ip daddr 10.0.0.2 ip id 9 tcp sport 45555 tcp dport 80 tcp flags == syn`,
    ];
    const legs = buildLegs({ ...input, spaces: [{ label: 'host', lines: lines(host) }] });
    expect(legs.forward.steps[0]!.nat).toEqual([{ namespace: 'host', kind: 'DNAT', before: '127.0.0.1:8080', after: '10.0.0.2:80' }]);
    expect(legs.forward.steps[1]!.nat).toEqual([{ namespace: 'host', kind: 'SNAT', before: '127.0.0.1:45555', after: '10.0.0.1:45555' }]);
  });
});

describe('the marking table', () => {
  it('matches only the probe: its source port to the ports it may reach, the answer, and ICMP errors quoting it', () => {
    expect(matchExprs({ proto: 'tcp', key: 41000, dports: [8080, 80] })).toEqual([
      'tcp sport 41000 tcp dport { 8080, 80 }',
      'tcp dport 41000 tcp sport { 8080, 80 }',
      'icmp type { destination-unreachable, time-exceeded } @th,224,16 41000',
    ]);
    expect(matchExprs({ proto: 'icmp', key: 7, dports: [] })[0]).toBe('icmp type { echo-request, echo-reply } icmp id 7');
  });
  it('is one table named for the lab and the pid, commented with the lab', () => {
    const s = traceTableScript('nltrace-x-42', 'x', { proto: 'udp', key: 41000, dports: [53] });
    expect(s).toMatch(/^table ip nltrace-x-42 \{\n {2}comment "netlab:x:trace"/);
    expect(s).toContain('type filter hook prerouting priority -301');
  });
});

it('pairs iptables-save lines with nft handles by their place in each chain', () => {
  const out = new Map<string, string>();
  zipRules(
    'filter',
    '*filter\n-A FWD -j A\n-A FWD -j B\n-A OTHER -j C\nCOMMIT\n',
    JSON.stringify({ nftables: [{ rule: { chain: 'FWD', handle: 5 } }, { rule: { chain: 'FWD', handle: 9 } }, { rule: { chain: 'OTHER', handle: 2 } }] }),
    out,
  );
  expect([...out]).toEqual([
    ['filter FWD 5', '-A FWD -j A'],
    ['filter FWD 9', '-A FWD -j B'],
    ['filter OTHER 2', '-A OTHER -j C'],
  ]);
});

describe('a probe across a VXLAN tunnel', () => {
  const env = (id: string, ipId: number) =>
    `trace id ${id} ip nltrace-x-1 t_out packet: oif "eth0" ip saddr 192.168.56.12 ip daddr 192.168.56.11 ip id ${ipId} udp sport 53658 udp dport 4789 udp length 90 @th,64,96 0x800000000002a0002420af5`;
  it('reads the VNI from the VXLAN header nft prints', () => {
    expect(parseTraceLine(env('e', 7))).toMatchObject({ packet: { proto: 'udp', dport: 4789, vni: 42 } });
  });
  it('puts the envelope in the leg the marking rule names, with its VNI, and no NAT between it and the packet it carries', () => {
    const inner = 'trace id i ip nltrace-x-1 t_pre packet: iif "br0" ip saddr 10.0.0.4 ip daddr 10.0.0.3 ip id 9 tcp sport 45555 tcp dport 80 tcp flags == syn';
    const lines = [inner, env('e', 7), 'trace id e ip nltrace-x-1 t_out rule udp dport 4789 @th,400,16 0xb1f3 meta nftrace set 1 # handle 2 (verdict continue)'];
    const legs = buildLegs({ lab: 'x', proto: 'tcp', key: 45555, tunnelPorts: [4789], ruleText: (_s, l) => l.text, spaces: [{ label: 'vm2', lines: lines.map((line, at) => ({ at, line })) }] });
    expect(legs.forward.steps.map((s) => [s.hook, s.tunnel?.vni, s.src])).toEqual([
      ['PREROUTING', undefined, '10.0.0.4:45555'],
      ['OUTPUT', 42, '192.168.56.12:53658'],
    ]);
    expect(legs.forward.steps.flatMap((s) => s.nat)).toEqual([]);
  });
  it('matches the probe inside the envelope by its own ports (or ICMP type and id)', () => {
    expect(matchExprs({ proto: 'tcp', key: 41000, dports: [80], tunnelPorts: [4789] }).slice(-2)).toEqual(['udp dport 4789 @th,400,16 41000', 'udp dport 4789 @th,416,16 41000']);
    expect(matchExprs({ proto: 'icmp', key: 7, dports: [], tunnelPorts: [4789, 4790] }).slice(-1)).toEqual(['udp dport { 4789, 4790 } @th,400,8 0 @th,432,16 7']);
  });
});
