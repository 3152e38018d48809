/** The data `netlab ui` sends: the picture's parts and counter sources, a trace's hops on the picture, and the server's refusals. */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { parseTopology, DEMO_FILE } from '../../src/topology/load.js';
import { resolveLab } from '../../src/model/lab.js';
import { labGraph } from '../../src/graph/model.js';
import { traceHops, uiLab } from '../../src/ui/model.js';
import { checkBindAddress } from '../../src/ui/server.js';
import { staticFile } from '../../src/ui/static.js';
import { explainPart } from '../../src/ui/data.js';
import type { TraceResult } from '../../src/trace/model.js';
import { emptyHostContext } from '../helpers/context.js';

const demo = () => resolveLab(parseTopology(readFileSync(DEMO_FILE, 'utf8'), { source: '<demo>', defaultName: 'demo' }), emptyHostContext);

describe('the picture', () => {
  it('lists every drawn part with its container, and ties each interface and published port to what shows its counters', () => {
    const lab = demo();
    const ui = uiLab(lab, labGraph(lab, { live: true }), true);
    const web = lab.containers.find((c) => c.name === 'web')!;
    expect(ui.containers).toEqual(['web', 'client']);
    expect(ui.nodes.find((n) => n.id === 'if_web_eth0')).toMatchObject({ kind: 'iface', container: 'web' });
    expect(ui.nodes.find((n) => n.id === 'cluster_ctr_client')).toMatchObject({ kind: 'container', container: 'client' });
    expect(ui.nodes.find((n) => n.id === 'br_netlab0')?.label[0]).toBe('bridge netlab0');
    expect(ui.counters.interfaces['web/eth0']).toBe(`if_web_eth0--veth_${web.interfaces[0]!.hostVeth}`);
    expect(ui.counters.ports['0.0.0.0:8080->80/tcp']).toBe('port_0_0_0_0_8080_tcp');
    expect(ui.edges.map((e) => e.key)).toContain(ui.counters.interfaces['client/eth0']);
  });

  it("gives a port the firewall's commands for that port, a bridge its network's, a container its own", () => {
    const lab = demo();
    const ui = uiLab(lab, labGraph(lab, { live: true }), true);
    const part = (id: string) => explainPart(lab, ui.nodes.find((n) => n.id === id)!);
    const port = part('port_0_0_0_0_8080_tcp');
    expect(port.map((s) => s.title)).toEqual([expect.stringMatching(/^firewall/)]);
    expect(port[0]!.commands.join('\n')).toContain('--dport 8080');
    expect(part('br_netlab0')[0]!.commands.join('\n')).toMatch(/ip link add netlab0 .*type bridge/);
    expect(part('cluster_ctr_web')[0]!.commands.join('\n')).toMatch(/ip netns add netlab-demo-web/);
  });
});

describe('a trace on the picture', () => {
  const lab = demo();
  const web = lab.containers.find((c) => c.name === 'web')!;
  const step = (namespace: string, hook: string, o: { in?: string; out?: string; nat?: TraceResult['forward']['steps'][0]['nat']; rules?: TraceResult['forward']['steps'][0]['rules'] } = {}) => ({
    namespace,
    hook,
    src: 'a',
    dst: 'b',
    rules: o.rules ?? [],
    nat: o.nat ?? [],
    ...(o.in ? { in: o.in } : {}),
    ...(o.out ? { out: o.out } : {}),
  });
  const drop = { namespace: 'host', table: 'ip filter', chain: 'NL-ISOLATION-2', rule: '-A NL-ISOLATION-2 -o netlab0 -j DROP', verdict: 'drop' };
  const result = (steps: ReturnType<typeof step>[], end: TraceResult['end']): TraceResult => ({
    schema: 1,
    lab: 'demo',
    firewall: 'iptables',
    proto: 'tcp',
    from: { name: 'host', address: '127.0.0.1' },
    to: { name: 'host', address: '127.0.0.1', port: 8080 },
    probe: { outcome: 'answered' },
    forward: { packet: 'SYN', steps },
    end,
  });

  it('lights the published port where DNAT rewrote it, then the bridge, then the container', () => {
    const hops = traceHops(
      lab,
      result(
        [
          step('host', 'OUTPUT', { out: 'lo', nat: [{ namespace: 'host', kind: 'DNAT', before: '127.0.0.1:8080', after: `${web.interfaces[0]!.ip}:80` }] }),
          step('host', 'POSTROUTING', { out: 'netlab0' }),
          step('web', 'PREROUTING', { in: 'eth0' }),
        ],
        { kind: 'delivered', namespace: 'web', detail: 'delivered' },
      ),
    );
    expect(hops.map((h) => h.node)).toEqual(['port_0_0_0_0_8080_tcp', 'br_netlab0', 'if_web_eth0']);
    expect(hops[0]!.nat).toBe(`DNAT 127.0.0.1:8080 → ${web.interfaces[0]!.ip}:80`);
  });

  it('marks the hop whose rule dropped the packet', () => {
    const hops = traceHops(
      lab,
      result([step('client', 'OUTPUT', { out: 'eth0' }), step('host', 'FORWARD', { in: web.interfaces[0]!.hostVeth, rules: [drop] })], {
        kind: 'dropped',
        namespace: 'host',
        detail: 'dropped',
        rule: drop,
      }),
    );
    expect(hops.map((h) => [h.node, h.verdict])).toEqual([
      ['if_client_eth0', undefined],
      [`veth_${web.interfaces[0]!.hostVeth}`, 'dropped'],
    ]);
    expect(hops[1]!.text).toContain('NL-ISOLATION-2: -A NL-ISOLATION-2 -o netlab0 -j DROP → drop');
  });
});

describe('the server', () => {
  it('binds loopback freely, anything else only with --listen', () => {
    expect(() => checkBindAddress('127.0.0.1', false)).not.toThrow();
    expect(() => checkBindAddress('::1', false)).not.toThrow();
    expect(() => checkBindAddress('0.0.0.0', false)).toThrow(/refusing to serve on 0\.0\.0\.0/);
    expect(() => checkBindAddress('192.0.2.1', false)).toThrow(/--listen 192\.0\.2\.1/);
    expect(() => checkBindAddress('0.0.0.0', true)).not.toThrow();
    expect(() => checkBindAddress('not-an-address', true)).toThrow(/not an IP address/);
  });

  it('serves its three files and nothing else', async () => {
    expect((await staticFile('/'))?.type).toMatch(/text\/html/);
    for (const p of ['/../package.json', '/app.js/..', '/index.html', '/constructor', '/__proto__', '/etc/passwd']) expect(await staticFile(p), p).toBeUndefined();
  });
});
