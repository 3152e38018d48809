/** Static audit and pure checks of the safety guards: no shell on the host, fault points, batch words, ownership marks. */
import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { batchLine, ipArgs } from '../../src/kernel/iproute2.js';
import { parseTopology, DEMO_FILE } from '../../src/topology/load.js';
import { resolveLab } from '../../src/model/lab.js';
import { desiredState } from '../../src/plan/desired.js';
import { diff } from '../../src/plan/diff.js';
import { emptyState } from '../../src/plan/state.js';
import { renderOp } from '../../src/plan/render.js';
import { linkGroup } from '../../src/model/names.js';
import { emptyHostContext } from '../helpers/context.js';
import { faultIndex } from '../../src/kernel/apply.js';
import { isHostWideSysctl } from '../../src/engine/hostrecord.js';
import type { Op } from '../../src/plan/ops.js';

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });
}

describe('no value reaches a shell on the host', () => {
  it('src/ runs programs only with argument arrays: no shell option, no exec/execSync, no execaCommand', () => {
    for (const file of sources('src')) {
      const text = readFileSync(file, 'utf8');
      expect(text, file).not.toMatch(/shell:\s*true|\bexecSync\(|\bexecaCommand|\$`|import\s*{[^}]*\bexec(Sync)?\b[^}]*}\s*from\s*'node:child_process'/);
    }
  });

  it("the only /bin/sh -c is the container command string form (Docker's shell form), run inside the container", () => {
    const hits = sources('src').filter((f) => readFileSync(f, 'utf8').includes("'/bin/sh', '-c'"));
    expect(hits.sort()).toEqual(['src/engine/query.ts', 'src/plan/desired.ts']);
  });

  it('ip -batch refuses a word that could split or end a command', () => {
    expect(batchLine(['link', 'set', 'dev', 'nlv1', 'alias', 'netlab:l:veth:a.b:n'])).toBe('link set dev nlv1 alias netlab:l:veth:a.b:n');
    for (const bad of ['a b', 'a\nlink del eth0', '"x', "x'", 'a#b', 'a;b', '', 'a\\b', 'a\tb']) expect(() => batchLine(['link', 'set', 'dev', bad])).toThrow(/refusing/);
  });
});

describe('fault points and sysctls', () => {
  const ops: Op[] = [
    { kind: 'netns.add', ns: 'a' },
    { kind: 'netns.add', ns: 'b' },
    { kind: 'sysctl.set', key: 'net.ipv4.ip_forward', value: '1' },
  ];
  it('NETLAB_FAULT_AFTER picks the n-th Op of a kind, the first by default, none when absent', () => {
    expect(faultIndex(ops, 'netns.add')).toBe(0);
    expect(faultIndex(ops, 'netns.add:2')).toBe(1);
    expect(faultIndex(ops, 'sysctl.set:1')).toBe(2);
    expect(faultIndex(ops, 'netns.add:3')).toBeUndefined();
    expect(faultIndex(ops, undefined)).toBeUndefined();
  });
  it('only host-wide sysctls are recorded for restoring; per-bridge ones vanish with the bridge', () => {
    expect(isHostWideSysctl('net.ipv4.ip_forward')).toBe(true);
    expect(isHostWideSysctl('net.ipv4.conf.all.route_localnet')).toBe(true);
    expect(isHostWideSysctl('net.ipv4.conf.nlbr1234abcd.route_localnet')).toBe(false);
  });
});

describe("ownership: only the kernel marks say what is the lab's", () => {
  const lab = resolveLab(parseTopology(readFileSync(DEMO_FILE, 'utf8'), { source: '<demo>', defaultName: 'demo' }), emptyHostContext);
  const want = desiredState(lab, { selfArgv: ['/usr/bin/node', '/opt/netlab/cli.js'] });
  const fresh = diff(want, emptyState('demo'));

  it('a namespace is made with its mark (set before it is bound), and no separate alias step follows', () => {
    const adds = fresh.filter((o) => o.kind === 'netns.add');
    expect(adds).toEqual([
      { kind: 'netns.add', ns: 'netlab-demo-web', mark: 'netlab:demo:ctr:web' },
      { kind: 'netns.add', ns: 'netlab-demo-client', mark: 'netlab:demo:ctr:client' },
    ]);
    expect(fresh.some((o) => o.kind === 'link.set' && o.name === 'lo' && o.alias !== undefined)).toBe(false);
    expect(renderOp(adds[0]!)).toBe('ip netns add netlab-demo-web\nip -n netlab-demo-web link set dev lo alias netlab:demo:ctr:web');
  });

  it("every link is created in the lab's device group, one per lab, never the default 0", () => {
    const creates = fresh.filter((o) => o.kind === 'bridge.add' || o.kind === 'veth.add' || o.kind === 'vxlan.add');
    expect(creates.length).toBe(3);
    for (const o of creates) expect(o).toMatchObject({ group: linkGroup('demo') });
    expect(linkGroup('demo')).not.toBe(0);
    expect(linkGroup('demo')).not.toBe(linkGroup('demo2'));
    expect(ipArgs(creates[0]!)).toMatchObject({ args: ['link', 'add', 'netlab0', 'mtu', '1500', 'group', String(linkGroup('demo')), 'type', 'bridge'] });
  });

  it('an empty /run/netns file left by a killed run is cleared, before the namespace is made again', () => {
    const have = { ...emptyState('demo'), unboundNetns: ['netlab-demo-web'] };
    const kinds = diff(want, have).map((o) => `${o.kind} ${'ns' in o ? o.ns : ''}`);
    expect(kinds.indexOf('netns.del netlab-demo-web')).toBeGreaterThanOrEqual(0);
    expect(kinds.indexOf('netns.del netlab-demo-web')).toBeLessThan(kinds.indexOf('netns.add netlab-demo-web'));
    expect(diff(emptyState('demo'), have)).toEqual([{ kind: 'netns.del', ns: 'netlab-demo-web' }]);
  });

  it("a command carrying the container's mark outside its namespace is stopped, by up and by down", () => {
    const have = { ...emptyState('demo'), processes: { web: { running: false, pids: [], strays: [4242], ns: 'netlab-demo-web', uts: '', log: '' } } };
    expect(diff(emptyState('demo'), have)).toEqual([{ kind: 'process.stop', container: 'web', ns: 'netlab-demo-web', pids: [4242] }]);
    expect(diff(want, have).filter((o) => o.kind === 'process.stop')).toEqual([{ kind: 'process.stop', container: 'web', ns: 'netlab-demo-web', pids: [4242] }]);
    const start = fresh.find((o) => o.kind === 'process.start' && o.container === 'web');
    expect(start).toMatchObject({ mark: { lab: 'demo', container: 'web' } });
    expect(renderOp(start!)).toContain('NETLAB_LAB=demo NETLAB_CONTAINER=web');
  });
});
