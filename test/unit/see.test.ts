/** explain, graph, doctor and progress: the pure parts, on the demo lab and a two-network lab. */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { parseTopology, DEMO_FILE } from '../../src/topology/load.js';
import { resolveLab } from '../../src/model/lab.js';
import { emptyHostContext } from '../helpers/context.js';
import { desiredState } from '../../src/plan/desired.js';
import { diff } from '../../src/plan/diff.js';
import { emptyState } from '../../src/plan/state.js';
import { explainSections, renderExplain, renderMultiHostExplain, subjectOf } from '../../src/plan/explain.js';
import { labGraph } from '../../src/graph/model.js';
import { toDot } from '../../src/graph/dot.js';
import { toMermaid } from '../../src/graph/mermaid.js';
import { dotToSvg } from '../../src/graph/svg.js';
import { judge, topologyNeeds, type Needs } from '../../src/engine/doctor.js';
import type { HostFacts } from '../../src/kernel/probe.js';
import { Progress, describeStep } from '../../src/cli/progress.js';
import { expectGolden } from '../helpers/golden.js';

const ctx = emptyHostContext;
const SELF = { selfArgv: ['/usr/bin/node', '/opt/netlab/cli.js'] };
const demoLab = () => resolveLab(parseTopology(readFileSync(DEMO_FILE, 'utf8'), { source: '<demo>', defaultName: 'demo' }), ctx);
const shopLab = () =>
  resolveLab(
    parseTopology(
      `name: shop
networks:
  front: { subnet: 10.103.10.0/24 }
  back: { subnet: 10.103.11.0/24, icc: false }
containers:
  db: { networks: [back], expose: [5432] }
  app: { networks: [front, back], links: ["db:database"], publish: ["127.0.0.1:20010:8080", "20011:53/udp"] }
`,
      { source: 'shop.yaml', defaultName: 'shop' },
    ),
    ctx,
  );

const MULTIHOST_FILE = new URL('../../examples/multihost.yaml', import.meta.url);
/** The multi-host example as host `host` resolves it (each host's gateways are its own). */
const multiLab = (host: string) => resolveLab(parseTopology(readFileSync(MULTIHOST_FILE, 'utf8'), { source: 'examples/multihost.yaml', defaultName: 'multihost' }), ctx, host);
const multiShare = (host: string) => {
  const lab = multiLab(host);
  const ops = diff(desiredState(lab, { ...SELF, ovsDatapath: 'netdev' }), emptyState(lab.name));
  return { lab, ops, sections: explainSections(lab, ops) };
};

const golden = (name: string, actual: string) => expectGolden(`${name}`, actual);

describe('explain', () => {
  for (const [name, make] of [
    ['demo', demoLab],
    ['shop', shopLab],
  ] as const) {
    it(`groups every Op of the ${name} lab exactly once, each under the part it builds`, () => {
      const lab = make();
      const ops = diff(desiredState(lab, SELF), emptyState(lab.name));
      const sections = explainSections(lab, ops);
      expect(sections.flatMap((s) => s.ops)).toHaveLength(ops.length);
      expect(new Set(sections.flatMap((s) => s.ops))).toEqual(new Set(ops));
      expect(sections.some((s) => s.subject.kind === 'other')).toBe(false);
      expect(sections.map((s) => s.subject.kind)).toEqual(['host', ...lab.networks.map(() => 'network'), ...lab.containers.map(() => 'container'), 'firewall']);
      for (const s of sections) expect(s.why.length).toBeGreaterThan(0);
    });
  }

  it('keeps a from-scratch plan runnable: every bridge before its ports, every namespace before its links', () => {
    const lab = shopLab();
    const flat = explainSections(lab, diff(desiredState(lab, SELF), emptyState(lab.name))).flatMap((s) => s.ops);
    const at = (pred: (o: (typeof flat)[number]) => boolean) => flat.findIndex(pred);
    for (const n of lab.networks) {
      const bridge = at((o) => o.kind === 'bridge.add' && o.name === n.bridge);
      expect(bridge).toBeGreaterThanOrEqual(0);
      expect(flat.every((o, i) => !(o.kind === 'link.set' && o.master === n.bridge) || i > bridge)).toBe(true);
    }
    for (const c of lab.containers) {
      const ns = at((o) => o.kind === 'netns.add' && o.ns === c.netns);
      expect(flat.every((o, i) => !('ns' in o && o.ns === c.netns) || o.kind === 'netns.add' || i > ns)).toBe(true);
      expect(flat.every((o, i) => !(o.kind === 'veth.add' && o.peer.ns === c.netns) || i > ns)).toBe(true);
    }
  });

  it("says in Docker's terms what each part is", () => {
    const lab = demoLab();
    const text = renderExplain(lab, explainSections(lab, diff(desiredState(lab, SELF), emptyState('demo'))));
    expect(text).toContain('This is what docker0 is');
    expect(text).toContain('this is what -p 8080:80 becomes');
    expect(text).toContain('--link web:webalias becomes the /etc/hosts line "172.31.0.2\\twebalias web"');
    expect(text).toContain('WEBALIAS_PORT_80_TCP_ADDR=172.31.0.2');
    expect(text.startsWith('#!/bin/bash\n')).toBe(true);
    golden('demo.explain.txt', text);
  });

  it('puts an Op it cannot place under "other" rather than dropping it', () => {
    expect(subjectOf({ kind: 'link.del', name: 'eth9' }, demoLab())).toEqual({ kind: 'other' });
  });
});

describe('explain, multi-host', () => {
  it("groups every Op of each host's share, the tunnel under its overlay right after the bridges", () => {
    for (const host of ['vm1', 'vm2']) {
      const { lab, ops, sections } = multiShare(host);
      expect(new Set(sections.flatMap((s) => s.ops))).toEqual(new Set(ops));
      expect(sections.map((s) => s.subject.kind)).toEqual(['host', 'network', 'network', 'overlay', 'overlay', 'container', 'firewall']);
      const overlay = sections.find((s) => s.subject.kind === 'overlay' && s.subject.network === 'overlay')!;
      expect(overlay.ops.map((o) => o.kind)).toEqual(['vxlan.add', 'link.set', 'fdb.append', 'link.set']);
      const ovs = sections.find((s) => s.subject.kind === 'overlay' && s.subject.network === 'ovsnet')!;
      expect(ovs.ops.every((o) => o.kind.startsWith('ovs.'))).toBe(true);
      expect(ovs.commands.join('\n')).toMatch(/ovs-vsctl add-port \S+ \S+ -- set interface \S+ type=vxlan options:remote_ip=192\.168\.56\.1[12] options:key=43/);
      // Only this host's container.
      expect(sections.filter((s) => s.subject.kind === 'container').map((s) => s.title.split(':')[0])).toEqual([`container ${host === 'vm1' ? 'a' : 'b'}`]);
      expect(lab.host).toBe(host);
    }
  });

  it('says what a VTEP, the FDB entry, head-end replication, MTU 1450 and the OVS ports are', () => {
    const text = multiShare('vm2')
      .sections.flatMap((s) => s.why)
      .join('\n');
    expect(text).toContain('This is a VTEP (VXLAN tunnel endpoint)');
    expect(text).toContain('bridge fdb append 00:00:00:00:00:00');
    expect(text).toContain('(vm1 at 192.168.56.11) is head-end replication');
    expect(text).toContain('MTU 1450: VXLAN adds 50 bytes');
    expect(text).toContain('datapath_type=netdev');
    expect(text).toContain('split horizon');
    expect(text).toContain('Its /etc/hosts also names the containers on other hosts (a on vm1)');
  });

  it('prints one part per host, each headed by its VM and run only there (golden)', () => {
    const shares = ['vm1', 'vm2'].map((h) => ({ host: multiLab(h).hosts.find((x) => x.name === h)!, sections: multiShare(h).sections }));
    const text = renderMultiHostExplain({ name: 'multihost', source: 'examples/multihost.yaml' }, shares, { named: false });
    expect(text).toContain('# on vm1 (underlay 192.168.56.11)');
    expect(text).toContain("if ip -o -4 addr show | grep -q ' inet 192\\.168\\.56\\.12/'; then");
    golden('multihost.explain.txt', text);
    const one = renderMultiHostExplain({ name: 'multihost', source: 'examples/multihost.yaml' }, shares.slice(1), { named: true });
    expect(one).not.toContain('# on vm1 (');
    expect(one).not.toContain('if ip -o');
    const sim = renderMultiHostExplain({ name: 'multihost', source: 'examples/multihost.yaml' }, shares, {
      named: false,
      simulated: { sections: [], netns: { vm1: 'netlab-multihost-host-vm1', vm2: 'netlab-multihost-host-vm2' }, env: { vm1: { OVS_RUNDIR: '/run/netlab/multihost/ovs/vm1' }, vm2: {} } },
    });
    expect(sim).toContain("nsenter --net=/run/netns/netlab-multihost-host-vm1 env OVS_RUNDIR=/run/netlab/multihost/ovs/vm1 bash -e <<'ON_vm1'");
    expect(sim.split('\n')).toContain('ON_vm2');
  });
});

describe('graph', () => {
  it('draws a multi-host lab as one cluster per host, with the tunnels between them (golden)', () => {
    const lab = multiLab('vm1');
    const g = labGraph(lab, { live: false });
    expect(g.clusters.map((c) => c.label[0])).toEqual(['host vm1', 'host vm2']);
    expect(g.clusters.map((c) => c.clusters.map((x) => x.id))).toEqual([['ctr_a'], ['ctr_b']]);
    // Each host's bridge holds its own gateway of the one subnet.
    expect(g.clusters[1]!.nodes.find((n) => n.id === 'br_vm2_nlbrb0c9ffcb')?.label[1]).toBe('10.200.0.2/24');
    const tunnels = g.edges.filter((e) => e.kind === 'tunnel');
    expect(tunnels.map((e) => [e.from, e.to])).toEqual([
      ['vx_vm1_overlay', 'vx_vm2_overlay'],
      ['ovs_vm1_ovsnet', 'ovs_vm2_ovsnet'],
    ]);
    expect(tunnels[0]!.label).toBe('VXLAN VNI 42 UDP 4790: 192.168.56.11 <-> 192.168.56.12');
    const ids = [...g.clusters.flatMap((c) => [...c.nodes, ...c.clusters.flatMap((x) => x.nodes)]), ...g.nodes].map((n) => n.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const e of g.edges) expect(ids, `${e.from} -- ${e.to}`).toEqual(expect.arrayContaining([e.from, e.to]));
    golden('multihost.graph.dot', toDot(g));
    golden('multihost.graph.mmd', toMermaid(g));
  });

  it('renders the demo lab as DOT and Mermaid (golden)', () => {
    const g = labGraph(demoLab(), { live: false });
    golden('demo.graph.dot', toDot(g));
    golden('demo.graph.mmd', toMermaid(g));
  });

  it('shows every container, interface address, veth, published port and link', () => {
    const lab = shopLab();
    const dot = toDot(labGraph(lab, { live: false }));
    for (const c of lab.containers) {
      expect(dot).toContain(`container ${c.name}`);
      for (const i of c.interfaces) {
        expect(dot).toContain(`${i.ip}/${i.prefix}`);
        expect(dot).toContain(i.hostVeth);
      }
    }
    expect(dot).toContain('127.0.0.1:20010/tcp');
    expect(dot).toContain('-p 20011:53/udp');
    expect(dot).toContain('link db:database');
    expect(dot).toContain('icc off');
    expect(toMermaid(labGraph(lab, { live: false }))).toContain('subgraph ctr_app');
  });

  it('draws SVG without system packages: it parses and names every container', async () => {
    for (const lab of [demoLab(), shopLab()]) {
      const svg = await dotToSvg(toDot(labGraph(lab, { live: true })));
      expect(XMLValidator.validate(svg)).toBe(true);
      const doc = new XMLParser({ ignoreAttributes: false }).parse(svg);
      expect(doc.svg).toBeDefined();
      const texts: string[] = [];
      const walk = (n: unknown): void => {
        if (Array.isArray(n)) n.forEach(walk);
        else if (n && typeof n === 'object')
          for (const [k, v] of Object.entries(n)) k === 'text' ? texts.push(...[v].flat().map((t) => (typeof t === 'object' ? String((t as Record<string, unknown>)['#text']) : String(t)))) : walk(v);
      };
      walk(doc);
      for (const c of lab.containers) expect(texts).toContain(`container ${c.name}`);
      expect(texts.some((t) => t.includes('(live: as it is up)'))).toBe(true);
    }
  }, 20_000);
});

const facts = (over: Partial<HostFacts> = {}): HostFacts => ({
  root: true,
  programs: {
    ip: '/usr/sbin/ip',
    iptables: '/usr/sbin/iptables',
    'iptables-save': '/x',
    'iptables-restore': '/x',
    nft: '/x',
    nsenter: '/x',
    unshare: '/x',
    setsid: '/x',
    'ovs-vsctl': undefined,
    'ovs-ofctl': undefined,
    'ovsdb-server': undefined,
    'ovs-vswitchd': undefined,
    curl: '/x',
    conntrack: '/x',
  },
  iptablesVariant: 'nf_tables',
  features: {
    netns: { state: 'works', how: '' },
    veth: { state: 'works', how: '' },
    bridge: { state: 'works', how: '' },
    vxlan: { state: 'available', how: '' },
    nf_tables: { state: 'works', how: '' },
    br_netfilter: { state: 'missing', how: 'not loaded' },
    sch_tbf: { state: 'works', how: '' },
    sch_netem: { state: 'missing', how: '' },
  },
  ipForward: '0',
  docker: { running: false, evidence: [] },
  firewalld: { running: false },
  ...over,
});
const needs = (over: Partial<Needs> = {}): Needs => ({ firewall: 'iptables', ovs: false, vxlan: false, iccOff: false, subnets: { id: 'subnets', status: 'ok', message: '' }, ...over });

describe('doctor', () => {
  it('passes a host with everything, where optional things may be missing', () => {
    const r = judge(facts(), needs());
    expect(r.ok).toBe(true);
    expect(r.checks.find((c) => c.id === 'program:ovs-vsctl')?.status).toBe('warn');
  });

  it('fails on a missing program, with the package that provides it', () => {
    const r = judge(facts({ programs: { ...facts().programs, 'iptables-restore': undefined } }), needs());
    expect(r.ok).toBe(false);
    expect(r.checks.find((c) => c.id === 'program:iptables-restore')).toMatchObject({ status: 'fail', fix: 'apt-get install iptables' });
  });

  it('needs iptables-restore for an nftables lab too: its bridges go into the shared iptables isolation chains', () => {
    const r = judge(facts({ programs: { ...facts().programs, 'iptables-restore': undefined } }), needs({ firewall: 'nftables' }));
    expect(r.checks.find((c) => c.id === 'program:iptables-restore')).toMatchObject({ status: 'fail', fix: 'apt-get install iptables' });
  });

  it('needs ovs-vsctl only when the topology uses Open vSwitch, br_netfilter only with icc: false', () => {
    expect(judge(facts(), needs({ ovs: true })).checks.find((c) => c.id === 'program:ovs-vsctl')).toMatchObject({ status: 'fail', fix: 'apt-get install openvswitch-switch' });
    const icc = judge(facts(), needs({ iccOff: true }));
    expect(icc.checks.find((c) => c.id === 'kernel:br_netfilter')).toMatchObject({ status: 'fail', fix: 'modprobe br_netfilter' });
  });

  it('checks all of Open vSwitch for a file with an OVS network, naming openvswitch-switch, and whether it runs', () => {
    const topo = parseTopology(readFileSync(MULTIHOST_FILE, 'utf8'), { source: 'examples/multihost.yaml', defaultName: 'multihost' });
    expect(topologyNeeds(topo)).toMatchObject({ ovs: true, vxlan: true });
    expect(topologyNeeds(parseTopology(readFileSync(DEMO_FILE, 'utf8'), { source: '<demo>', defaultName: 'demo' }))).toMatchObject({ ovs: false, vxlan: false });
    const r = judge(facts({ ovs: { running: false, socket: '/var/run/openvswitch/db.sock' } }), needs(topologyNeeds(topo)));
    expect(r.ok).toBe(false);
    for (const p of ['ovs-vsctl', 'ovs-ofctl', 'ovsdb-server', 'ovs-vswitchd'])
      expect(r.checks.find((c) => c.id === `program:${p}`)).toMatchObject({ status: 'fail', fix: 'apt-get install openvswitch-switch' });
    expect(r.checks.find((c) => c.id === 'ovs:running')).toMatchObject({ status: 'warn', fix: expect.stringContaining('systemctl start openvswitch-switch') });
    expect(r.checks.find((c) => c.id === 'kernel:vxlan')?.status).toBe('ok');
    // Everything there and running: nothing about Open vSwitch fails or warns.
    const all = Object.fromEntries(Object.keys(facts().programs).map((p) => [p, `/usr/bin/${p}`]));
    const fine = judge(facts({ programs: all, ovs: { running: true, socket: '/var/run/openvswitch/db.sock' } }), needs(topologyNeeds(topo)));
    expect(fine.checks.filter((c) => c.id.includes('ovs') && c.status !== 'ok')).toEqual([]);
  });

  it('tells how netlab coexists with Docker and firewalld, and fails without root', () => {
    const r = judge(facts({ root: false, docker: { running: true, evidence: ['bridge docker0'] }, firewalld: { running: true } }), needs());
    expect(r.ok).toBe(false);
    expect(r.checks.find((c) => c.id === 'root')?.fix).toBe('sudo netlab doctor');
    expect(r.checks.find((c) => c.id === 'coexist:docker')?.message).toContain('own chains');
    expect(r.checks.find((c) => c.id === 'coexist:firewalld')?.fix).toContain('trusted');
  });
});

describe('progress', () => {
  const lab = demoLab();
  const ops = diff(desiredState(lab, SELF), emptyState('demo'));

  it('describes each step in words', () => {
    const links = ops.filter((o) => /^(netns|bridge|veth|link|addr|route)\./.test(o.kind));
    expect(describeStep(links)).toBe('links: 2 namespaces, 1 bridge, 2 veth pairs, 19 settings');
    // The files written beside the link step are named apart from its settings.
    expect(describeStep([...links, ...ops.filter((o) => o.kind === 'file.write')])).toBe('links: 2 namespaces, 1 bridge, 2 veth pairs, 19 settings; 6 /etc files beside');
    // With the netlink backend the hostnames go beside too, and the firewall does with either.
    const beside = ops.filter((o) => ['file.write', 'uts.add', 'firewall.apply'].includes(o.kind));
    expect(describeStep([...links, ...beside])).toMatch(/^links: 2 namespaces, 1 bridge, 2 veth pairs, 19 settings; 6 \/etc files, 2 hostnames and the firewall \(\d+ rules\) beside$/);
    expect(describeStep([...links, ...ops.filter((o) => o.kind === 'firewall.apply')])).toMatch(/; the firewall \(\d+ rules\) beside$/);
    expect(describeStep([ops.at(-1)!])).toMatch(/^start web: .*serve --port 80$/);
    // A group of one kind run side by side is named for what it is, not as links.
    expect(describeStep(ops.filter((o) => o.kind === 'file.write'))).toBe('write 6 /etc files');
    expect(describeStep(ops.filter((o) => o.kind === 'uts.add'))).toBe('2 hostnames (a UTS namespace each)');
  });

  it('prints one line per step on a terminal and in a pipe; counts containers done', () => {
    for (const isTTY of [true, false]) {
      let text = '';
      const p = new Progress({ write: (t) => (text += t), isTTY });
      p.plan(ops, 'demo');
      p.step(ops.slice(0, 2));
      p.step(ops.slice(2));
      p.finish();
      expect(text.trim().split('\n')).toHaveLength(2);
      expect(text.startsWith('✓ ')).toBe(isTTY);
      expect(p.containersDone()).toBe(2);
    }
  });

  it('draws a bar of containers done for a large lab on a terminal, and tenths in a pipe', () => {
    const containers = Array.from({ length: 30 }, (_, i) => `c${i}: {}`).join('\n  ');
    const big = resolveLab(parseTopology(`name: big\ncontainers:\n  ${containers}\n`, { source: 'big.yaml', defaultName: 'big' }), ctx);
    const bigOps = diff(desiredState(big, SELF), emptyState('big'));
    for (const isTTY of [true, false]) {
      let text = '';
      const p = new Progress({ write: (t) => (text += t), isTTY });
      p.plan(bigOps, 'big');
      for (const op of bigOps) p.step([op]);
      p.finish();
      expect(p.containersDone()).toBe(30);
      if (isTTY) expect(text).toContain('[########################] 30/30 containers');
      else expect(text.trim().split('\n').at(-1)).toBe('containers: 30/30 done');
      if (!isTTY) expect(text.trim().split('\n').length).toBeLessThanOrEqual(10);
    }
  });
});

describe('graph -o picks the format from the extension', () => {
  it('writes what the extension names, refuses a picture format it does not draw and a contradiction', async () => {
    const { graphFormat } = await import('../../src/cli/graphformat.js');
    expect(graphFormat('svg', false, 'lab.dot')).toBe('dot');
    expect(graphFormat('svg', false, 'lab.MMD')).toBe('mermaid');
    expect(graphFormat('dot', true, 'lab.txt')).toBe('dot');
    expect(graphFormat('svg', false, undefined)).toBe('svg');
    expect(() => graphFormat('svg', false, 'lab.png')).toThrow(/not \.png/);
    expect(() => graphFormat('svg', true, 'lab.json')).toThrow(/extension says json/);
  });
});
