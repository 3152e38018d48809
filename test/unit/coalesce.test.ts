import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { parseTopology, DEMO_FILE } from '../../src/topology/load.js';
import { resolveLab } from '../../src/model/lab.js';
import { desiredState } from '../../src/plan/desired.js';
import { diff } from '../../src/plan/diff.js';
import { emptyState } from '../../src/plan/state.js';
import { isLinkOp, type LinkOp } from '../../src/plan/ops.js';
import { coalesceLinkOps } from '../../src/kernel/coalesce.js';
import { emptyHostContext } from '../helpers/context.js';

const demoLinkOps = (ipv6 = false) => {
  const lab = resolveLab(parseTopology(readFileSync(DEMO_FILE, 'utf8'), { source: '<demo>', defaultName: 'demo' }), emptyHostContext);
  return diff(desiredState(lab, { selfArgv: ['/usr/bin/node', '/opt/netlab/cli.js'], ipv6 }), emptyState('demo')).filter(isLinkOp);
};

describe('coalescing link Ops into rtnetlink requests', () => {
  it('creates a veth pair enslaved, up and with its MAC, and carries every Op', () => {
    const ops = demoLinkOps();
    const reqs = coalesceLinkOps(ops);
    // Every Op is carried; only the veth's `alias … master …` is split over two requests.
    const carried = reqs.flatMap((r) => r.from);
    expect(new Set(carried)).toEqual(new Set(ops));
    const split = ops.filter((op) => reqs.filter((r) => r.from.includes(op)).length > 1);
    expect(split.map((op) => op.kind === 'link.set' && op.master !== undefined && op.alias !== undefined)).toEqual([true, true]);
    expect(carried).toHaveLength(ops.length + split.length);
    const web = reqs.find((r) => r.op.kind === 'veth.add' && r.op.peer.ns.endsWith('-web'))!;
    expect(web.op).toMatchObject({ kind: 'veth.add', master: 'netlab0', up: true, peerMac: '02:42:ac:1f:00:02' });
    // What creation cannot carry (the alias, hairpin) is one request right after it.
    const after = reqs[reqs.indexOf(web) + 1]!.op;
    expect(after).toMatchObject({ kind: 'link.set', name: web.op.kind === 'veth.add' ? web.op.name : '', hairpin: true });
    expect(after).toHaveProperty('alias');
    expect(after).not.toHaveProperty('master');
    // lo's mark and up are one request; eth0's MAC is no request of its own.
    const inWeb = reqs.filter((r) => 'ns' in r.op && r.op.kind !== 'netns.add' && r.op.ns === web.op.peer.ns);
    expect(inWeb.map((r) => r.op.kind)).toEqual(['link.set', 'addr.add', 'link.set', 'route.replace']);
    expect(inWeb[0]!.op).toMatchObject({ name: 'lo', up: true });
    expect(reqs.length).toBeLessThan(ops.length);
  });

  it('leaves the master to a later request when the bridge is made after the veth', () => {
    const ops: LinkOp[] = [
      { kind: 'veth.add', name: 'nlva', mtu: 1500, peer: { ns: 'n1', name: 'eth0' } },
      { kind: 'link.set', name: 'nlva', master: 'br1', alias: 'm' },
      { kind: 'bridge.add', name: 'br1', mtu: 1500 },
    ];
    const reqs = coalesceLinkOps(ops);
    expect(reqs.map((r) => r.op)).toEqual(ops);
  });

  it('never puts a bridge port setting (hairpin) and a new master in one request', () => {
    const ops: LinkOp[] = [
      { kind: 'link.set', name: 'nlva', master: 'br1' },
      { kind: 'link.set', name: 'nlva', hairpin: true },
      { kind: 'link.set', name: 'nlva', up: true },
    ];
    const reqs = coalesceLinkOps(ops);
    expect(reqs.map((r) => r.op)).toEqual([ops[0], { kind: 'link.set', name: 'nlva', hairpin: true, up: true }]);
  });

  it('keeps a field set twice, and links in other namespaces, apart', () => {
    const ops: LinkOp[] = [
      { kind: 'link.set', name: 'lo', ns: 'a', alias: 'x' },
      { kind: 'link.set', name: 'lo', ns: 'b', up: true },
      { kind: 'link.set', name: 'lo', ns: 'b', alias: 'y' },
      { kind: 'link.set', name: 'lo', ns: 'b', alias: 'z' },
    ];
    expect(coalesceLinkOps(ops).map((r) => r.op)).toEqual([ops[0], { kind: 'link.set', name: 'lo', ns: 'b', up: true, alias: 'y' }, ops[3]]);
  });

  it('sets the MAC at creation only when that is the first thing done to the container end', () => {
    const ops: LinkOp[] = [
      { kind: 'veth.add', name: 'nlva', mtu: 1500, peer: { ns: 'n1', name: 'eth0' } },
      { kind: 'addr.add', ns: 'n1', dev: 'eth0', cidr: '10.0.0.2/24' },
      { kind: 'link.set', ns: 'n1', name: 'eth0', mac: '02:42:0a:00:00:02' },
    ];
    expect(coalesceLinkOps(ops).map((r) => r.op)).toEqual(ops);
  });

  it('keeps the MAC in the veth creation when IPv6 is turned off on the interface, and the sysctl before its up', () => {
    const ops = demoLinkOps(true);
    const reqs = coalesceLinkOps(ops);
    expect(new Set(reqs.flatMap((r) => r.from))).toEqual(new Set(ops));
    const web = reqs.find((r) => r.op.kind === 'veth.add' && r.op.peer.ns.endsWith('-web'))!;
    expect(web.op).toMatchObject({ peerMac: '02:42:ac:1f:00:02' });
    const inWeb = reqs.filter((r) => 'ns' in r.op && r.op.kind !== 'netns.add' && r.op.ns === 'netlab-demo-web').map((r) => r.op.kind);
    expect(inWeb).toEqual(['link.set', 'netns.sysctl', 'addr.add', 'link.set', 'route.replace']);
  });
});
