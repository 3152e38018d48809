/**
 * IPv6 on real namespaces, under both link backends: a dual-stack network and an IPv6-only one
 * (`ipv4: false`), container to container by address, by /etc/hosts name and by the embedded
 * DNS (AAAA), drift of an IPv6 address repaired by `up`, `down` leaving no IPv6 address or
 * route; an automatic ULA /64 kept across `up`s; IPv6 across simulated hosts over VXLAN.
 */
import { describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { CLI, uniqueLab } from '../helpers/kernel.js';
import { netnsName } from '../../src/model/names.js';
import { tempDir } from '../helpers/tmp.js';

const dir = tempDir('ipv6');

const RUN_MS = 60_000;

/** The CLI with a link backend of its own (`NETLAB_BACKEND`). */
const netlab = (backend: string, args: string[]) =>
  execa(process.execPath, [CLI, ...args], { reject: false, all: true, env: { NETLAB_LOG_LEVEL: 'warn', NETLAB_BACKEND: backend }, timeout: RUN_MS, killSignal: 'SIGINT' });

function labFile(lab: string, text: string): string {
  const file = join(dir, `${lab}.yaml`);
  writeFileSync(file, `name: ${lab}\n${text}`);
  return file;
}

/** Retries a command inside a container until it succeeds (a server just started needs a moment). */
async function eventually(backend: string, lab: string, ctr: string, cmd: string[], ms = 8000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const r = await netlab(backend, ['exec', '-l', lab, ctr, '--', ...cmd]);
    if (r.exitCode === 0 || Date.now() > deadline) return r;
    await new Promise((res) => setTimeout(res, 200));
  }
}

/** The host's IPv6 addresses and routes that mention `prefix` (a lab's subnets). */
async function hostIpv6(prefix: string): Promise<string[]> {
  const addrs = (await execa('ip', ['-6', '-o', 'addr', 'show'])).stdout.split('\n');
  const routes = (await execa('ip', ['-6', 'route', 'show', 'table', 'all'])).stdout.split('\n');
  return [...addrs, ...routes].filter((l) => l.includes(prefix));
}

const SERVE = '[netlab, serve, --port, "80", --bind, "::"]';

for (const [i, backend] of (['netlink', 'iproute2'] as const).entries()) {
  describe(`IPv6 with the ${backend} backend`, () => {
    const v4 = `10.231.${10 + 4 * i}`;
    const v6 = `fd31:0:0:${10 + 4 * i}`;
    it(
      'dual stack and IPv6 only: by address, by hosts-file name and by DNS name; drift repaired; down leaves no IPv6 address or route',
      async () => {
        const lab = uniqueLab();
        const file = labFile(
          lab,
          `networks:
  dual: { subnet: ${v4}.0/24, ipv6: true, subnet6: "${v6}::/64" }
  legacy: { subnet: ${v4.replace(/\d+$/, (n) => String(Number(n) + 1))}.0/24, ipv6: true, subnet6: "${v6.replace(/\d+$/, (n) => String(Number(n) + 1))}::/64", dns: false }
  only6: { ipv4: false, ipv6: true, subnet6: "${v6.replace(/\d+$/, (n) => String(Number(n) + 2))}::/64" }
containers:
  web: { networks: [dual, legacy, only6], command: ${SERVE} }
  client: { networks: [dual], ip6: "${v6}::99" }
  old: { networks: [legacy] }
  v6only: { networks: [only6] }
`,
        );
        const legacy6 = v6.replace(/\d+$/, (n) => String(Number(n) + 1));
        const only6 = v6.replace(/\d+$/, (n) => String(Number(n) + 2));
        try {
          const up = await netlab(backend, ['up', '-f', file]);
          expect(up.exitCode, up.all).toBe(0);
          // By address, both ways: the client's static ip6 is what the server sees.
          const byAddr = await eventually(backend, lab, 'client', ['curl', '-s', '-m', '3', `http://[${v6}::2]/whoami`]);
          expect(byAddr.stdout.trim(), byAddr.all).toBe(`${v6}::99`);
          expect((await netlab(backend, ['exec', '-l', lab, 'web', '--', 'ping', '-6', '-c1', '-W2', `${v6}::99`])).exitCode).toBe(0);
          // By name through the embedded DNS (AAAA): the user-defined network's /etc/hosts names no peer.
          const byDns = await netlab(backend, ['exec', '-l', lab, 'client', '--', 'curl', '-6', '-s', '-m', '3', 'http://web/whoami']);
          expect(byDns.stdout.trim(), byDns.all).toBe(`${v6}::99`);
          // By name through /etc/hosts (dns: false): the IPv6 line after the IPv4 one, as Docker writes it.
          const hosts = (await netlab(backend, ['exec', '-l', lab, 'old', '--', 'cat', '/etc/hosts'])).stdout;
          expect(hosts).toContain(`${legacy6}::2\tweb\n`);
          expect(hosts).toMatch(new RegExp(`\\tweb\\n${legacy6}::2\\tweb\\n`));
          const byHosts = await netlab(backend, ['exec', '-l', lab, 'old', '--', 'curl', '-6', '-s', '-m', '3', 'http://web/whoami']);
          expect(byHosts.stdout.trim(), byHosts.all).toBe(`${legacy6}::3`);
          // IPv6 only: no IPv4 address at all, and the dual-stack server reached by name.
          expect((await netlab(backend, ['exec', '-l', lab, 'v6only', '--', 'ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0'])).stdout.trim()).toBe('');
          const only = await netlab(backend, ['exec', '-l', lab, 'v6only', '--', 'curl', '-s', '-m', '3', 'http://web/whoami']);
          expect(only.stdout.trim(), only.all).toBe(`${only6}::3`);
          // An IPv4-only interface keeps IPv6 off; the IPv6 ones have it on, with the IPv6 default route.
          const routes = (await netlab(backend, ['exec', '-l', lab, 'client', '--', 'ip', '-6', 'route', 'show', 'default'])).stdout;
          expect(routes).toContain(`default via ${v6}::1 dev eth0`);

          // Drift: an IPv6 address deleted by hand is reported (exit 3) and put back by `up`.
          await execa('ip', ['-n', netnsName(lab, 'client'), 'addr', 'del', `${v6}::99/64`, 'dev', 'eth0']);
          const drift = await netlab(backend, ['status', '-l', lab]);
          expect(drift.exitCode, drift.all).toBe(3);
          expect(drift.stdout).toContain('1 address to add');
          const repair = await netlab(backend, ['up', '-f', file]);
          expect(repair.exitCode, repair.all).toBe(0);
          expect((await netlab(backend, ['status', '-l', lab])).exitCode).toBe(0);
          expect((await eventually(backend, lab, 'client', ['curl', '-s', '-m', '3', `http://[${v6}::2]/whoami`])).stdout.trim()).toBe(`${v6}::99`);
        } finally {
          const down = await netlab(backend, ['down', '-l', lab]);
          expect(down.exitCode, down.all).toBe(0);
        }
        expect(await hostIpv6(`${v6}:`)).toEqual([]);
        expect(await hostIpv6(`${legacy6}:`)).toEqual([]);
        expect(await hostIpv6(`${only6}:`)).toEqual([]);
      },
      4 * RUN_MS,
    );
  });
}

describe('an automatic IPv6 subnet', () => {
  it(
    'is a unique local /64 clear of the host (fd00::/64 on eth0 here), kept across ups',
    async () => {
      const lab = uniqueLab();
      const file = labFile(lab, `networks:\n  n: { subnet: 10.231.30.0/24, ipv6: true }\ncontainers:\n  a: {}\n  b: {}\n`);
      const addressOf = async () => JSON.parse((await netlab('netlink', ['inspect', '-l', lab, 'a'])).stdout)[0].NetworkSettings.GlobalIPv6Address as string;
      try {
        expect((await netlab('netlink', ['up', '-f', file])).exitCode).toBe(0);
        const first = await addressOf();
        expect(first).toMatch(/^fd[0-9a-f]{2}:/);
        expect(first.startsWith('fd00::')).toBe(false);
        expect((await netlab('netlink', ['exec', '-l', lab, 'b', '--', 'ping', '-6', '-c1', '-W2', first])).exitCode).toBe(0);
        expect((await netlab('netlink', ['up', '-f', file])).exitCode).toBe(0);
        expect(await addressOf()).toBe(first);
      } finally {
        await netlab('netlink', ['down', '-l', lab]);
      }
    },
    3 * RUN_MS,
  );
});

describe('IPv6 across simulated hosts', () => {
  it(
    'carries IPv6 inside the VXLAN segment: each host its own gateway6, names and HTTP across the tunnel',
    async () => {
      const lab = uniqueLab();
      const file = labFile(
        lab,
        `hosts:
  h1: { underlay: 10.231.40.11 }
  h2: { underlay: 10.231.40.12 }
networks:
  over: { subnet: 10.231.41.0/24, vxlan: { vni: 231 }, ipv6: true, subnet6: "fd31:0:0:41::/64" }
containers:
  c1: { host: h1, command: ${SERVE} }
  c2: { host: h2 }
`,
      );
      try {
        const up = await netlab('netlink', ['up', '--simulate', '-f', file]);
        expect(up.exitCode, up.all).toBe(0);
        // Host h2's gateway is the subnet's second address, as for IPv4.
        expect((await netlab('netlink', ['exec', '-l', lab, 'c2', '--', 'ip', '-6', 'route', 'show', 'default'])).stdout).toContain('default via fd31:0:0:41::2 dev eth0');
        expect((await netlab('netlink', ['exec', '-l', lab, 'c1', '--', 'ip', '-6', 'route', 'show', 'default'])).stdout).toContain('default via fd31:0:0:41::1 dev eth0');
        const web = await eventually('netlink', lab, 'c2', ['curl', '-6', '-s', '-m', '3', 'http://c1/whoami'], 10_000);
        expect(web.stdout.trim(), web.all).toBe('fd31:0:0:41::4');
      } finally {
        const down = await netlab('netlink', ['down', '-l', lab]);
        expect(down.exitCode, down.all).toBe(0);
      }
    },
    3 * RUN_MS,
  );
});
