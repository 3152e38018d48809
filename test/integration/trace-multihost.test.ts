/**
 * `netlab trace` across simulated hosts: the probe followed through each machine's namespace
 * and over the VXLAN tunnel between them, under both firewall backends.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cli, uniqueLab } from '../helpers/kernel.js';
import { traceResultSchema } from '../../src/trace/schema.js';
import type { TraceResult } from '../../src/trace/model.js';
import { removeTempDir, tempDir } from '../helpers/tmp.js';

const RUN_MS = 60_000;

describe.each([
  { firewall: 'iptables', net: 80 },
  { firewall: 'nftables', net: 84 },
])('netlab trace over VXLAN between simulated hosts, firewall $firewall', ({ firewall, net }) => {
  const lab = uniqueLab();
  const dir = tempDir('trace-mh');
  const file = join(dir, 'netlab.yaml');
  writeFileSync(
    file,
    `name: ${lab}
firewall: ${firewall}
hosts:
  vm1: { underlay: 10.235.${net}.11 }
  vm2: { underlay: 10.235.${net}.12 }
networks:
  overlay: { subnet: 10.235.${net + 1}.0/24, vxlan: { vni: ${net + 100} } }
containers:
  a: { host: vm1, networks: [overlay], expose: [80], command: [netlab, serve, --port, "80"] }
  b: { host: vm2, networks: [overlay], links: ["a:alpha"] }
`,
  );
  const trace = async (...args: string[]) => {
    const r = await cli(['trace', '-f', file, '--json', ...args], { timeoutMs: 30_000 });
    if (r.exitCode !== 0) throw new Error(`netlab trace ${args.join(' ')}: ${r.all}`);
    return traceResultSchema.parse(JSON.parse(r.stdout)) as TraceResult;
  };
  beforeAll(async () => {
    const up = await cli(['up', '--simulate', '-q', '-f', file], { timeoutMs: RUN_MS });
    expect(up.exitCode, up.all).toBe(0);
  }, 90_000);
  afterAll(async () => {
    await cli(['down', '-q', '-f', file], { timeoutMs: RUN_MS });
    removeTempDir(dir);
  }, 90_000);

  it('b → a:80 crosses vm2, the tunnel (its VNI, the underlay addresses) and vm1, and is delivered; the answer comes back the same way', async () => {
    const r = await trace('b', 'a:80');
    expect(r.end).toMatchObject({ kind: 'delivered', namespace: 'a' });
    const spaces = [...new Set(r.forward.steps.map((s) => s.namespace))];
    expect(spaces).toEqual(['b', 'vm2', 'vm1', 'a']);
    const envelope = r.forward.steps.filter((s) => s.tunnel);
    expect(envelope.map((s) => `${s.namespace} ${s.hook}`)).toEqual(expect.arrayContaining(['vm2 OUTPUT', 'vm1 INPUT']));
    for (const s of envelope) {
      expect(s.tunnel).toEqual({ kind: 'vxlan', vni: net + 100 });
      expect(s.src).toMatch(new RegExp(`^10\\.235\\.${net}\\.12:\\d+$`));
      expect(s.dst).toMatch(new RegExp(`^10\\.235\\.${net}\\.11:\\d+$`));
    }
    expect(r.reply?.steps.some((s) => s.tunnel && s.namespace === 'vm1' && s.hook === 'OUTPUT')).toBe(true);
    const accept = r.forward.steps.flatMap((s) => s.rules).filter((h) => h.verdict === 'accept' && h.lab === lab);
    expect(accept.map((h) => h.namespace)).toEqual(expect.arrayContaining(['vm1', 'vm2']));
  });

  it('ICMP over the tunnel, and a RST from a port nothing listens on', async () => {
    const ping = await trace('a', 'b', '--icmp');
    expect(ping.end.kind).toBe('delivered');
    expect(ping.forward.steps.some((s) => s.tunnel?.vni === net + 100)).toBe(true);
    expect((await trace('a', 'b:81')).end).toMatchObject({ kind: 'refused', namespace: 'b' });
  });

  it('in a multi-host lab a trace goes from container to container', async () => {
    const r = await cli(['trace', '-f', file, 'host', 'a:80']);
    expect(r.exitCode).toBe(2);
    expect(r.all).toContain('in a multi-host lab, a trace goes from a container to a container');
  });
});
