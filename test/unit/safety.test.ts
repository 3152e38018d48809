/** Static audit and pure checks of the safety guards: no shell on the host, fault points, batch words. */
import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { batchLine } from '../../src/kernel/iproute2.js';
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

  it('the only /bin/sh -c is the container command string form (Docker\'s shell form), run inside the container', () => {
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
