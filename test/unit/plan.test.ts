import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { parseTopology, DEMO_FILE } from '../../src/topology/load.js';
import { resolveLab } from '../../src/model/lab.js';
import { joinPieces, type TextPiece } from '../../src/model/etcfiles.js';
import { emptyHostContext } from '../helpers/context.js';
import { desiredState } from '../../src/plan/desired.js';
import { diff } from '../../src/plan/diff.js';
import { emptyState } from '../../src/plan/state.js';
import { renderOp } from '../../src/plan/render.js';
import { iptablesRestoreInput } from '../../src/kernel/iptables.js';
import { expectGolden } from '../helpers/golden.js';

const ctx = emptyHostContext;
const demoLab = () => resolveLab(parseTopology(readFileSync(DEMO_FILE, 'utf8'), { source: '<demo>', defaultName: 'demo' }), ctx);
const want = () => desiredState(demoLab(), { selfArgv: ['/usr/bin/node', '/opt/netlab/cli.js'] });

const golden = (name: string, actual: string) => expectGolden(`${name}`, actual);

describe('planning the demo lab', () => {
  it('resolves addresses like docker0: gateway .1, containers from .2, MAC from the address', () => {
    const lab = demoLab();
    expect(lab.networks[0]).toMatchObject({ bridge: 'netlab0', gateway: 0xac1f0001 });
    expect(lab.containers.map((c) => [c.name, c.interfaces[0]!.ip, c.interfaces[0]!.mac])).toEqual([
      ['web', '172.31.0.2', '02:42:ac:1f:00:02'],
      ['client', '172.31.0.3', '02:42:ac:1f:00:03'],
    ]);
    expect(lab.containers[1]!.files.hosts).toBe('127.0.0.1\tlocalhost\n172.31.0.2\twebalias web\n172.31.0.3\tclient\n');
  });

  it('builds from nothing with every step, and plans nothing when the kernel already matches', () => {
    const ops = diff(want(), emptyState('demo'));
    const kinds = ops.map((o) => o.kind);
    expect(kinds.indexOf('netns.add')).toBeLessThan(kinds.indexOf('veth.add'));
    expect(kinds.indexOf('bridge.add')).toBeLessThan(kinds.indexOf('veth.add'));
    expect(kinds.at(-1)).toBe('process.start');
    expect(diff(want(), want())).toEqual([]);
  });

  it('tears down to nothing: stop, firewall, links before namespaces', () => {
    const ops = diff(emptyState('demo'), { ...want(), processes: { web: { ...want().processes.web!, pids: [42] } } });
    const kinds = ops.map((o) => o.kind);
    expect(kinds[0]).toBe('process.stop');
    expect(kinds[1]).toBe('firewall.remove');
    expect(kinds.lastIndexOf('link.del')).toBeLessThan(kinds.indexOf('netns.del'));
  });

  it('renders the iptables rules of the demo lab (golden)', () => {
    golden('demo.iptables-restore', iptablesRestoreInput(want().firewall, undefined));
  });

  it('renders every step as a command a student can run (golden)', () => {
    golden('demo.explain.sh', `${diff(want(), emptyState('demo')).map(renderOp).join('\n')}\n`);
  });

  it('turns IPv6 off on each container interface before it comes up, as Docker does for an IPv4-only endpoint, and only where it is on', () => {
    const want6 = desiredState(demoLab(), { selfArgv: ['/usr/bin/node', '/opt/netlab/cli.js'], ipv6: true });
    const ops = diff(want6, emptyState('demo'));
    for (const c of demoLab().containers) {
      const inNs = ops.filter((o) => 'ns' in o && o.ns === c.netns && o.kind !== 'netns.add');
      const sysctl = inNs.findIndex((o) => o.kind === 'netns.sysctl');
      const up = inNs.findIndex((o) => o.kind === 'link.set' && o.name === 'eth0' && o.up);
      expect(inNs[sysctl]).toEqual({ kind: 'netns.sysctl', ns: c.netns, key: 'net.ipv6.conf.eth0.disable_ipv6', value: '1' });
      expect(sysctl).toBeLessThan(up);
      expect(renderOp(inNs[sysctl]!)).toBe(`ip netns exec ${c.netns} sysctl -qw net.ipv6.conf.eth0.disable_ipv6=1`);
    }
    // Converged: nothing. Turned back on by hand (or a recreated interface): set again, and nothing else.
    expect(diff(want6, want6)).toEqual([]);
    const drifted = structuredClone(want6);
    drifted.namespaces['netlab-demo-web']!.ifaces.eth0!.ipv6Disabled = false;
    expect(diff(want6, drifted)).toEqual([{ kind: 'netns.sysctl', ns: 'netlab-demo-web', key: 'net.ipv6.conf.eth0.disable_ipv6', value: '1' }]);
    // A kernel without IPv6 has no such knob: nothing planned.
    expect(diff(want(), emptyState('demo')).some((o) => o.kind === 'netns.sysctl')).toBe(false);
  });
});

describe('/etc/hosts of a large lab', () => {
  it('lists every peer at its address on the first shared network, as a list per container would (rendered in linear time)', () => {
    let y = 'name: hostsbig\nnetworks:\n  a: { subnet: 10.106.200.0/24, dns: false }\n  b: { subnet: 10.106.201.0/24, dns: false }\ncontainers:\n';
    for (let i = 1; i <= 40; i++) {
      const nets = i % 3 === 0 ? '[a, b]' : i % 3 === 1 ? '[a]' : '[b, a]';
      const links = i % 5 === 0 ? `, links: ["c${i - 1}:alias${i}", "c${i - 3}"]` : '';
      y += `  c${i}: { networks: ${nets}${i % 7 === 0 ? `, hostname: h${i}.example` : ''}${links} }\n`;
    }
    y += '  lone: { networks: [b] }\n';
    const lab = resolveLab(parseTopology(y, { source: 'x.yaml', defaultName: 'x' }), ctx);
    // The reference: one loop over the lab per container.
    for (const c of lab.containers) {
      const linked = new Set(c.links.map((l) => l.target));
      const mine = new Set(c.interfaces.map((i) => i.network));
      let peers = '';
      for (const o of lab.containers) {
        if (o.name === c.name || linked.has(o.name)) continue;
        const shared = o.interfaces.find((i) => mine.has(i.network)) ?? o.interfaces[0]!;
        peers += `${shared.ip}\t${[...new Set([o.hostname, o.name])].join(' ')}\n`;
      }
      expect(c.files.hosts).toContain(peers);
      const lines = c.files.hosts.trimEnd().split('\n');
      expect(lines.at(-1)).toBe(`${c.interfaces[0]!.ip}\t${[...new Set([c.hostname, c.hostname.split('.')[0], c.name])].join(' ')}`);
      expect(lines.length).toBe(1 + c.links.length + (lab.containers.length - 1 - linked.size) + 1);
      // As pieces (what the thread writing the files is handed): the same text, the peers as slices of one list per set of networks.
      const pieces = c.hostsPieces!;
      expect(joinPieces(pieces)).toBe(c.files.hosts);
      const slices = pieces.filter((p): p is Exclude<TextPiece, string> => typeof p !== 'string');
      expect(slices.length).toBeGreaterThan(0);
      for (const p of slices) expect(p.of.length).toBeGreaterThan(p.end - p.start);
    }
    const want = desiredState(lab, { selfArgv: ['netlab'] });
    const path = Object.keys(want.files).find((p) => p.endsWith('/hosts'))!;
    expect(joinPieces(want.filePieces![path]!)).toBe(want.files[path]);
    // The plan's write of it carries them to the writer.
    const write = diff(want, emptyState(lab.name)).find((o) => o.kind === 'file.write' && o.path === path);
    expect(write).toMatchObject({ pieces: want.filePieces![path] });
  });
});
