/** explain: the commands that build a lab, grouped by part, each with what it is in Docker (pure). */
import { describe, expect, it } from 'vitest';
import { desiredState } from '../../src/plan/desired.js';
import { diff } from '../../src/plan/diff.js';
import { emptyState } from '../../src/plan/state.js';
import { explainSections, renderExplain, renderMultiHostExplain, subjectOf } from '../../src/plan/explain.js';
import { expectGolden as golden } from '../helpers/golden.js';
import { SELF, demoLab, multiLab, multiShare, shopLab } from '../helpers/labs.js';

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
