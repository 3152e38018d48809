/**
 * `netlab trace` on real packets, under both firewall backends: what the kernel's own tracing
 * saw of one probe (the rule that decided, the NAT, the end), and that nothing of the trace is
 * left, also when it is interrupted or killed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { join } from 'node:path';
import { up, down, parseTopology } from '../../src/index.js';
import { CLI, cli, curlIn, httpGet, uniqueLab } from '../helpers/kernel.js';
import { servers } from '../helpers/vhost.js';
import type { TraceResult } from '../../src/trace/model.js';
import { traceResultSchema } from '../../src/trace/schema.js';
import { traceLeftovers } from '../helpers/trace-leftovers.js';
import { tempDir } from '../helpers/tmp.js';

const BACKENDS = [
  { firewall: 'iptables', net: 11, port: 21401, loopPort: 21411 },
  { firewall: 'nftables', net: 13, port: 21402, loopPort: 21412 },
] as const;

const topology = (lab: string, b: (typeof BACKENDS)[number]) =>
  parseTopology(
    `firewall: ${b.firewall}
networks:
  # dns: false: web's own server takes UDP 53, which the embedded DNS holds on 127.0.0.11 (docs/dns.md).
  a: { subnet: 10.235.${b.net}.0/24, icc: false, dns: false }
  b: { subnet: 10.235.${b.net + 1}.0/24, dns: false }
containers:
  web:
    networks: [a]
    expose: [80, 53/udp]
    publish: ["${b.port}:80", "127.0.0.1:${b.loopPort}:80"]
    command: ${servers('tcp:80', 'udp:53')}
  client:
    networks: [a]
    links: ["web:www"]
  stranger:
    networks: [a]
  other:
    networks: [b]
`,
    { source: 'trace.yaml', defaultName: lab },
  );

async function trace(lab: string, ...args: string[]): Promise<TraceResult> {
  const r = await cli(['trace', '-l', lab, '--json', ...args], { timeoutMs: 30_000 });
  if (r.exitCode !== 0) throw new Error(`netlab trace ${args.join(' ')}: ${r.all}`);
  // The documented shape (docs/trace.md), strictly: no key more, none missing.
  return traceResultSchema.parse(JSON.parse(r.stdout)) as TraceResult;
}

/** A tcpdump filter: the SYN and SYN-ACK of connections to port 80, however late tcpdump starts. */
const SYNS = ['tcp port 80 and tcp[tcpflags] & tcp-syn != 0'];
const rules = (leg: TraceResult['forward'] | undefined) => (leg?.steps ?? []).flatMap((s) => s.rules);
const nats = (leg: TraceResult['forward'] | undefined) => (leg?.steps ?? []).flatMap((s) => s.nat);

describe.each(BACKENDS)('netlab trace, firewall $firewall', (b) => {
  const lab = uniqueLab();
  const nss = ['web', 'client', 'stranger', 'other'].map((c) => `netlab-${lab}-${c}`);
  beforeAll(async () => {
    await up({ topology: topology(lab, b) });
  });
  afterAll(async () => {
    await down({ lab });
  });

  it('host → a published port: delivered, through the DNAT rule, with the addresses before and after', async () => {
    const r = await trace(lab, 'host', `host:${b.port}`);
    expect(r.end.kind).toBe('delivered');
    expect(r.end.namespace).toBe('web');
    const dnat = rules(r.forward).find((h) => h.lab === lab && /DNAT --to-destination|dnat ip to/.test(h.rule));
    expect(dnat?.rule).toContain(`${b.port}`);
    // iptables: `--to-destination 10.235.N.2:80`; nftables: the lab's map, `21402 : 10.235.N.2 . 80`.
    expect(dnat?.rule).toContain(b.firewall === 'iptables' ? `10.235.${b.net}.2:80` : `${b.port} : 10.235.${b.net}.2 . 80`);
    expect(nats(r.forward)).toContainEqual({ namespace: 'host', kind: 'DNAT', before: `127.0.0.1:${b.port}`, after: `10.235.${b.net}.2:80` });
    expect(nats(r.forward)).toContainEqual(expect.objectContaining({ kind: 'SNAT', after: `10.235.${b.net}.1:${r.probe.sourcePort}` }));
    expect(r.reply?.packet).toBe('SYN-ACK');
    expect(r.forward.steps.map((s) => `${s.namespace} ${s.hook}`)).toEqual(expect.arrayContaining(['host OUTPUT', 'host POSTROUTING', 'web PREROUTING', 'web INPUT']));
  });

  it('a linked container → an exposed port with icc off: delivered by the link rule', async () => {
    const r = await trace(lab, 'client', 'web:80');
    expect(r.end.kind).toBe('delivered');
    const accept = rules(r.forward).find((h) => h.verdict === 'accept');
    expect(accept?.rule).toMatch(new RegExp(`10\\.235\\.${b.net}\\.3.*10\\.235\\.${b.net}\\.2.*dport 80`));
  });

  it('an unlinked container with icc off: dropped, the DROP rule named', async () => {
    const r = await trace(lab, 'stranger', 'web:80');
    expect(r.end.kind).toBe('dropped');
    expect(r.end.rule?.lab).toBe(lab);
    expect(r.end.rule?.chain).toBe(`NL-${lab}-FWD`);
    expect(r.reply).toBeUndefined();
  });

  it('a container of another network: dropped by the isolation rule', async () => {
    const r = await trace(lab, 'other', 'web:80');
    expect(r.end.kind).toBe('dropped');
    expect(r.end.rule?.chain).toMatch(/NL-ISOLATION-2|isolation-2/);
  });

  it('a port nothing listens on: refused by a RST', async () => {
    const r = await trace(lab, 'host', 'web:81');
    expect(r.end).toMatchObject({ kind: 'refused', namespace: 'web' });
    expect(r.reply?.packet).toBe('RST-ACK');
  });

  it('UDP: answered by a listener, and ICMP port unreachable without one', async () => {
    expect((await trace(lab, 'client', 'web:53', '--udp')).end.kind).toBe('delivered');
    const none = await trace(lab, 'host', 'web:54', '--udp');
    expect(none.end.kind).toBe('no-listener');
    expect(none.reply?.packet).toBe('destination-unreachable/port-unreachable');
  });

  it('ICMP: an echo answered, and one dropped with icc off', async () => {
    const ok = await trace(lab, 'host', 'web', '--icmp');
    expect(ok.end.kind).toBe('delivered');
    expect(ok.reply?.packet).toBe('echo-reply');
    expect((await trace(lab, 'stranger', 'web', '--icmp')).end.kind).toBe('dropped');
  });

  it('outside → a published port: delivered with its source kept; → an unpublished port of the container directly: dropped', async () => {
    const r = await trace(lab, 'outside', `host:${b.port}`);
    expect(r.end.kind).toBe('delivered');
    const atWeb = r.forward.steps.find((s) => s.namespace === 'web')!;
    expect(atWeb.src).toBe(`${r.from.address}:${r.probe.sourcePort}`);
    const direct = await trace(lab, 'outside', 'web:81');
    expect(direct.end.kind).toBe('dropped');
    expect(direct.end.rule?.chain).toBe(`NL-${lab}-PORTS`);
    expect(await traceLeftovers(lab, nss)).toEqual([]);
  });

  it('outside → a port published on 127.0.0.1 only: sent to 127.0.0.1 through the host, as a neighbour routing it there would, and dropped by the raw rule for loopback-bound ports', async () => {
    const r = await trace(lab, 'outside', `host:${b.loopPort}`);
    expect(r.to).toMatchObject({ name: 'host', address: '127.0.0.1', port: b.loopPort });
    expect(r.end.kind).toBe('dropped');
    expect(r.end.namespace).toBe('host');
    expect(r.end.rule).toMatchObject({ namespace: 'host', lab, verdict: 'drop', chain: `NL-${lab}-RAW` });
    expect(r.end.rule!.rule).toMatch(
      b.firewall === 'iptables'
        ? new RegExp(`^-A NL-${lab}-RAW -d 127\\.0\\.0\\.1/32 ! -i lo -p tcp -m tcp --dport ${b.loopPort} -m comment --comment "netlab:${lab}" -j DROP$`)
        : new RegExp(`^add rule inet netlab NL-${lab}-RAW iifname != "lo" ip daddr 127\\.0\\.0\\.1 tcp dport ${b.loopPort} drop comment "netlab:${lab}"$`),
    );
    expect(r.end.rule!.table).toBe(b.firewall === 'iptables' ? 'ip raw' : 'inet netlab');
    // Dropped before NAT: no DNAT, nothing reached web, nothing answered.
    expect(nats(r.forward)).toEqual([]);
    expect(r.forward.steps.some((s) => s.namespace === 'web')).toBe(false);
    expect(r.reply).toBeUndefined();
    expect(await traceLeftovers(lab, nss)).toEqual([]);
  });

  it('bad input names its place and changes nothing: an unknown container, no port for TCP, both --udp and --icmp', async () => {
    const bad = async (...args: string[]) => {
      const r = await cli(['trace', '-l', lab, ...args]);
      expect(r.exitCode).toBe(2);
      return r.all;
    };
    expect(await bad('nobody', 'web:80')).toContain('SRC: "nobody" is not a container of lab');
    expect(await bad('host', 'web')).toContain('DST: a tcp trace needs a port: web:PORT');
    expect(await bad('host', 'web:70000')).toContain('port 70000 is out of range');
    expect(await bad('host', 'web:80', '--udp', '--icmp')).toContain('--udp/--icmp');
    expect(await traceLeftovers(lab, nss)).toEqual([]);
  });

  it("stats: the counters grow with traffic (rule counters under iptables; none on netlab's nftables rules)", async () => {
    const stats = async () => JSON.parse((await cli(['stats', '-l', lab, '--json'])).stdout) as import('../../src/trace/stats.js').LabStats;
    const before = await stats();
    expect(await curlIn(`netlab-${lab}-client`, 'http://www/')).toContain('web');
    expect(await httpGet(`http://127.0.0.1:${b.port}/`)).toContain('web');
    const after = await stats();
    const tx = (s: typeof before, c: string) => s.interfaces.find((i) => i.container === c && i.ifname === 'eth0')!.tx.packets;
    expect(tx(after, 'client')).toBeGreaterThan(tx(before, 'client'));
    expect(tx(after, 'web')).toBeGreaterThan(tx(before, 'web'));
    const port = (s: typeof before) => s.ports.find((p) => p.port === `0.0.0.0:${b.port}->80/tcp`)!;
    const link = (s: typeof before) => s.links.find((l) => l.from === 'client' && l.to === 'web' && l.port === '80/tcp')!;
    if (b.firewall === 'iptables') {
      expect(port(after).packets!).toBeGreaterThan(port(before).packets!);
      expect(link(after).packets!).toBeGreaterThan(link(before).packets!);
    } else expect(port(after).packets).toBeNull();
  });

  it('capture: writes a pcap that tcpdump reads, with the packets asked for; text mode names the containers', async () => {
    const file = join(tempDir('capture'), 'capture.pcap');
    const cap = cli(['capture', '-l', lab, 'web', '-c', '2', '-w', file, ...SYNS], { timeoutMs: 20_000 });
    const text = cli(['capture', '-l', lab, 'web:eth0', '-c', '1', ...SYNS], { timeoutMs: 20_000 });
    // Connections until both captures have what they asked for (tcpdump takes a moment to start).
    let done = false;
    void Promise.all([cap, text]).finally(() => (done = true));
    while (!done) {
      await curlIn(`netlab-${lab}-client`, 'http://www/');
      await new Promise((r) => setTimeout(r, 300));
    }
    expect((await cap).exitCode).toBe(0);
    expect((await text).stdout).toMatch(/IP client\.\d+ > web\.80: Flags \[S\]/);
    const read = await execa('tcpdump', ['-n', '-r', file], { reject: false });
    const lines = read.stdout.trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(new RegExp(`10\\.235\\.${b.net}\\.3\\.\\d+ > 10\\.235\\.${b.net}\\.2\\.80: Flags \\[S\\]`));
    expect(lines[1]).toMatch(/Flags \[S\.\]/);
  });

  it('an interrupted trace (Ctrl-C) leaves nothing; a killed one is cleared by the next netlab run', async () => {
    const interrupted = execa(process.execPath, [CLI, 'trace', '-l', lab, 'stranger', 'web:80'], { reject: false });
    // Once its monitors run: every kind of object it makes exists then.
    await waitFor(async () => (await traceLeftovers(lab, nss)).some((l) => l.startsWith('monitor process')));
    interrupted.kill('SIGINT');
    expect((await interrupted).exitCode).toBe(130);
    expect(await traceLeftovers(lab, nss)).toEqual([]);

    const killed = execa(process.execPath, [CLI, 'trace', '-l', lab, 'outside', 'web:80'], { reject: false });
    await waitFor(async () => (await traceLeftovers(lab, nss)).some((l) => l.startsWith('monitor process')));
    killed.kill('SIGKILL');
    await killed;
    expect((await traceLeftovers(lab, nss)).length).toBeGreaterThan(0);
    expect((await cli(['ps', '-l', lab])).exitCode).toBe(0);
    expect(await traceLeftovers(lab, nss)).toEqual([]);
  });
});

async function waitFor(check: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 50));
  }
}

it('a trace of a lab that is not up says so', async () => {
  const lab = uniqueLab();
  const r = await cli(['trace', '-l', lab, 'host', 'web:80']);
  expect(r.exitCode).not.toBe(0);
  expect(r.all).toContain(`lab "${lab}" is not up`);
});
