/**
 * The IPv6 loopback proxy: real servers in a container reached at [::1] from the host, TCP
 * (curl, and a half-closed echo session) and UDP, under both firewall backends; its life as a
 * lab process (status drift, repair, reload without dropping a connection, down), and the port
 * checks that know its sockets from another program's.
 */
import { describe, expect, it } from 'vitest';
import { execa, type ResultPromise } from 'execa';
import dgram from 'node:dgram';
import net from 'node:net';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { up, down, parseTopology } from '../../src/index.js';
import { isProxyOf, PROXY_SCRIPT, proxyPid, socketInodes } from '../../src/proxy/lifecycle.js';
import { parsePublish } from '../../src/model/ports.js';
import { cli, uniqueLab } from '../helpers/kernel.js';
import { labsUndoneAfterEach } from '../helpers/api-labs.js';
import { removeTempDir, tempDir } from '../helpers/tmp.js';

const SERVERS = fileURLToPath(new URL('../fixtures/servers.mjs', import.meta.url));
const ECHO = fileURLToPath(new URL('../fixtures/echo.mjs', import.meta.url));
const { topology, cleanups } = labsUndoneAfterEach();

/** A lab whose `web` runs Python's HTTP server on 80 and the test servers (UDP 5353, TCP echo 7). */
const webLab = (firewall: string, third: number, publish: string[]) => `firewall: ${firewall}
networks:
  n: { subnet: 10.233.${third}.0/24 }
containers:
  web:
    networks: [n]
    ip: 10.233.${third}.10
    command: "python3 -m http.server 80 & ${process.execPath} ${ECHO} 7 & exec ${process.execPath} ${SERVERS} udp:5353"
    publish: [${publish.map((p) => JSON.stringify(p)).join(', ')}]
`;

/** curl -g -6 from the host, retried while the server starts; the body, or undefined. */
async function curl6(url: string, retryMs = 8000): Promise<string | undefined> {
  const deadline = Date.now() + retryMs;
  for (;;) {
    const r = await execa('curl', ['-g', '-6', '-s', '-m', '3', url], { reject: false });
    if (r.exitCode === 0) return r.stdout;
    if (Date.now() >= deadline) return undefined;
    await new Promise((res) => setTimeout(res, 200));
  }
}

/** One datagram to [::1]:port and its answer, or undefined after `ms`. */
function udpAsk(port: number, text: string, ms = 2000): Promise<string | undefined> {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp6');
    const done = (v: string | undefined) => {
      clearTimeout(timer);
      s.close();
      resolve(v);
    };
    const timer = setTimeout(() => done(undefined), ms);
    s.on('message', (m) => done(m.toString()));
    s.send(text, port, '::1');
  });
}

/** A TCP session with the echo server through [::1]:port. */
async function echoSession(port: number) {
  const sock = net.connect({ host: '::1', port, allowHalfOpen: true });
  await new Promise<void>((res, rej) => sock.once('connect', res).once('error', rej));
  let got = '';
  sock.on('data', (d) => (got += d.toString()));
  cleanups.push(async () => sock.destroy());
  const until = async (pred: () => boolean) => {
    const deadline = Date.now() + 3000;
    while (!pred() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    return got;
  };
  return {
    /** Sends `text` and waits for its echo. */
    echo: async (text: string) => {
      const before = got.length;
      sock.write(text);
      return (await until(() => got.length >= before + text.length)).slice(before);
    },
    /** Ends the sending side (half-close) and reads until the server closes. */
    finish: async () => {
      sock.end();
      await new Promise((r) => sock.once('close', r));
      return got;
    },
  };
}

/** A program of the host listening on [::1]:port (stopped with the test); in an object, since a returned child would be awaited. */
async function holdPort(port: number): Promise<{ child: ResultPromise }> {
  const holder = execa(process.execPath, ['-e', `require('net').createServer().listen(${port}, '::1', () => console.log('up'))`]) as ResultPromise;
  cleanups.push(async () => {
    holder.kill();
    await holder.catch(() => undefined);
  });
  await new Promise<void>((res) => holder.stdout!.once('data', () => res()));
  return { child: holder };
}

const proxiesOf = (lab: string) =>
  readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e))
    .map(Number)
    .filter((pid) => isProxyOf(pid, lab));

/** Whether this build takes IPv6 networks (`ipv6: true`), and `[::1]` as a publish address. */
const ipv6Networks = (() => {
  try {
    return !!parseTopology('networks:\n  n: { subnet: 10.233.31.0/24, ipv6: true }\ncontainers:\n  a: { networks: [n] }\n', { source: 'x.yaml', defaultName: 'x' });
  } catch {
    return false;
  }
})();
const acceptsV6Loopback = (() => {
  try {
    return parsePublish('[::1]:1:80').length === 1;
  } catch {
    return false;
  }
})();

describe('the IPv6 loopback proxy', () => {
  for (const [i, firewall] of ['iptables', 'nftables'].entries()) {
    it(`carries TCP (HTTP, a half-closed session) and UDP from [::1] to the container; 127.0.0.1 stays DNAT (${firewall})`, async () => {
      const lab = uniqueLab();
      const base = 21200 + 10 * i;
      await up({ topology: topology(lab, webLab(firewall, 10 + i, [`${base}:80`, `${base + 1}:5353/udp`, `${base + 2}:7`, `127.0.0.1:${base + 3}:80`])) });
      const pid = proxyPid(lab);
      expect(pid).toBeDefined();
      expect(await curl6(`http://[::1]:${base}/`)).toContain('Directory listing');
      // The container sees the host's address on its network, as docker-proxy's connections show.
      expect((await udpAsk(base + 1, 'ping')) ?? (await udpAsk(base + 1, 'ping again'))).toBe(`web 10.233.${10 + i}.1\n`);
      const s = await echoSession(base + 2);
      expect(await s.echo('hello')).toBe('hello');
      // The client's FIN reaches the server, and the answer it sends after it comes back.
      expect(await s.finish()).toBe('hellobytes=5\n');
      // 127.0.0.1 is the kernel's (DNAT with route_localnet); the proxy listens on [::1] only, and not for 127.0.0.1-bound ports.
      const listening = (await execa('ss', ['-Hlntup'])).stdout.split('\n').filter((l) => l.includes(`pid=${pid},`));
      // (Its other sockets are the UDP flow's own, on ports of the kernel's choosing.)
      const ours = listening.map((l) => l.split(/\s+/)[4]!).filter((a) => Math.abs(Number(/:(\d+)$/.exec(a)![1]) - base - 1.5) < 2);
      expect(ours.sort()).toEqual([`[::1]:${base + 1}`, `[::1]:${base + 2}`, `[::1]:${base}`].sort());
      expect(await curl6(`http://[::1]:${base + 3}/`, 0)).toBeUndefined();
      expect((await execa('curl', ['-s', '-m', '3', `http://127.0.0.1:${base + 3}/`])).stdout).toContain('Directory listing');
    });
  }

  it('is a process of the lab: status reports it missing (exit 3), up brings it back, an up that adds a port reloads it without dropping a connection, down leaves none', async () => {
    const lab = uniqueLab();
    const first = webLab('iptables', 20, ['21220:7']);
    await up({ topology: topology(lab, first) });
    const pid = proxyPid(lab)!;
    expect(pid).toBeDefined();
    expect((await up({ topology: topology(lab, first) })).proxy).toEqual({ action: 'none', pid });

    process.kill(pid, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 100));
    const drift = await cli(['status', '--lab', lab]);
    expect(drift.exitCode, drift.all).toBe(3);
    expect(drift.stdout).toContain('the IPv6 loopback proxy to start');
    expect(drift.stdout).toContain('IPv6 loopback proxy ([::1]): missing');
    const again = await up({ topology: topology(lab, first) });
    expect(again.proxy?.action).toBe('started');
    const pid2 = proxyPid(lab)!;
    expect(pid2).not.toBe(pid);
    expect((await cli(['status', '--lab', lab])).exitCode).toBe(0);

    const s = await echoSession(21220);
    expect(await s.echo('one')).toBe('one');
    const more = await up({ topology: topology(lab, webLab('iptables', 20, ['21220:7', '21221:80'])) });
    expect(more.proxy).toEqual({ action: 'reloaded', pid: pid2 });
    expect(await curl6('http://[::1]:21221/')).toContain('Directory listing');
    expect(await s.echo('two')).toBe('two');
    expect(await s.finish()).toBe('onetwobytes=6\n');

    // No published port left: the proxy goes.
    expect((await up({ topology: topology(lab, webLab('iptables', 20, [])) })).proxy?.action).toBe('stopped');
    expect(proxiesOf(lab)).toEqual([]);
    await up({ topology: topology(lab, first) });
    expect(proxiesOf(lab)).toEqual([proxyPid(lab)]);
    await down({ lab });
    expect(proxiesOf(lab)).toEqual([]);
    expect(proxyPid(lab)).toBeUndefined();
  });

  it('keeps an automatic host port across ups: its own socket at [::1] is no conflict, and up changes nothing', async () => {
    const lab = uniqueLab();
    const body = webLab('iptables', 21, ['80']);
    const a = await up({ topology: topology(lab, body) });
    const port = a.lab.containers[0]!.ports[0]!.hostPort;
    expect(await curl6(`http://[::1]:${port}/`)).toContain('Directory listing');
    const b = await up({ topology: topology(lab, body) });
    expect(b.lab.containers[0]!.ports[0]!.hostPort).toBe(port);
    expect(b.ops).toEqual([]);
    expect(b.proxy?.action).toBe('none');
  });

  it('refuses a port that a program or another lab holds at [::1], naming it, and changes nothing', async () => {
    const lab = uniqueLab();
    const { child: holder } = await holdPort(21230);
    await expect(up({ topology: topology(lab, webLab('iptables', 22, ['21230:80'])) })).rejects.toThrow(
      new RegExp(`containers\\.web\\.publish\\[0\\].*host port 21230/tcp is already in use on this host \\(a listening socket of node \\(pid ${holder.pid}\\)\\)`),
    );
    expect(proxyPid(lab)).toBeUndefined();

    const other = uniqueLab();
    await up({ topology: topology(other, webLab('iptables', 23, ['21231:80'])) });
    await expect(up({ topology: topology(lab, webLab('iptables', 22, ['21231:80'])) })).rejects.toThrow(`host port 21231/tcp is already in use on this host (lab ${other})`);
  });

  it('warns of a port it cannot listen on (taken at [::1] while it was down), and takes it at the next up once free', async () => {
    const lab = uniqueLab();
    const body = webLab('iptables', 25, ['21260:80']);
    await up({ topology: topology(lab, body) });
    process.kill(proxyPid(lab)!, 'SIGKILL');
    const { child: holder } = await holdPort(21260);
    const held = await up({ topology: topology(lab, body) });
    expect(held.proxy?.action).toBe('started');
    expect(held.proxy?.failed).toEqual([expect.stringMatching(/^\[::1\]:21260\/tcp: .*EADDRINUSE/)]);
    holder.kill();
    await holder.catch(() => undefined);
    const freed = await up({ topology: topology(lab, body) });
    expect(freed.proxy).toEqual({ action: 'reloaded', pid: held.proxy?.pid });
    expect(await curl6('http://[::1]:21260/')).toContain('Directory listing');
    expect((await up({ topology: topology(lab, body) })).proxy?.action).toBe('none');
  });

  it("forgets a UDP flow after conntrack's idle times: the short one until the server answered, the long one after", async () => {
    const dir = tempDir('proxy6');
    cleanups.push(async () => removeTempDir(dir));
    const server = dgram.createSocket('udp4');
    server.on('message', (m, from) => m.toString() === 'answer me' && server.send('answer', from.port, from.address));
    await new Promise<void>((res) => server.bind(21271, '127.0.0.1', res));
    cleanups.push(async () => server.close());
    const config = join(dir, 'proxy6.json');
    const route = { proto: 'udp', port: 21270, target: '127.0.0.1', targetPort: 21271, container: 'x' };
    writeFileSync(config, JSON.stringify({ lab: 'x', listen: '::1', routes: [route], udpTimeoutMs: { unreplied: 400, replied: 2000 } }));
    const proxy = execa(process.execPath, [PROXY_SCRIPT, config]);
    cleanups.push(async () => {
      proxy.kill();
      await proxy.catch(() => undefined);
    });
    const deadline = Date.now() + 5000;
    while (!existsSync(`${config}.loaded`) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    // Its sockets: the listener and its stdio pipes, and one per flow.
    const base = socketInodes(proxy.pid!).length;
    const flows = () => socketInodes(proxy.pid!).length - base;
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    expect(flows()).toBe(0);
    expect(await udpAsk(21270, 'no answer', 200)).toBeUndefined();
    expect(flows()).toBe(1);
    await sleep(500);
    expect(flows()).toBe(0);
    expect(await udpAsk(21270, 'answer me')).toBe('answer');
    await sleep(1000);
    expect(flows()).toBe(1);
    await sleep(1500);
    expect(flows()).toBe(0);
  });

  it.skipIf(!acceptsV6Loopback || !ipv6Networks)("goes to the container's IPv6 address when it has one, and serves a [::1]-bound port at [::1] only", async () => {
    const lab = uniqueLab();
    const yaml = `networks:
  n: { subnet: 10.233.30.0/24, ipv6: true, subnet6: "fd33:30::/64" }
containers:
  web:
    networks: [n]
    command: "python3 -m http.server --bind :: 80 & exec ${process.execPath} ${ECHO} 7 ::"
    publish: ["21250:7", "[::1]:21251:80"]
`;
    const result = await up({ topology: topology(lab, yaml) });
    const ip6 = (result.lab.containers[0]!.ports[0] as { containerIp6?: string }).containerIp6;
    expect(ip6).toMatch(/^fd33:30::/);
    expect(await curl6('http://[::1]:21251/')).toContain('Directory listing');
    expect((await execa('curl', ['-s', '-m', '2', 'http://127.0.0.1:21251/'], { reject: false })).exitCode).not.toBe(0);
    const s = await echoSession(21250);
    expect(await s.echo('six')).toBe('six');
    // The proxy's connection to the container goes over IPv6.
    const conns = (await execa('ss', ['-Htnp', 'state', 'established', 'dst', `[${ip6}]:7`])).stdout;
    expect(conns).toContain(`pid=${proxyPid(lab)},`);
    expect(await s.finish()).toBe('sixbytes=3\n');
  });
});
