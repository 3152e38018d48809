/** The embedded DNS's pure parts: which names a container sees, the wire answers, the files, the YAML. */
import { describe, expect, it } from 'vitest';
import dnsPacket from 'dns-packet';
import { parseTopology } from '../../src/topology/load.js';
import { resolveLab } from '../../src/model/lab.js';
import { internalResolvConf, resolvConf } from '../../src/model/etcfiles.js';
import { lookup, resolverConfig, reverseName } from '../../src/dns/records.js';
import { answer, answerer } from '../../src/dns/answer.js';
import { InputError } from '../../src/errors.js';
import { emptyHostContext } from '../helpers/context.js';

const labOf = (yaml: string, resolv = 'nameserver 192.0.2.53\n') =>
  resolveLab(parseTopology(yaml, { source: 'x.yaml', defaultName: 'x' }), { ...emptyHostContext, hostResolvConf: { text: resolv, source: '/etc/resolv.conf' } });

const LAB = `
networks:
  front: { subnet: 10.1.1.0/24 }
  back: { subnet: 10.1.2.0/24 }
  old: { subnet: 10.1.3.0/24, dns: false }
containers:
  web: { networks: { front: {}, back: { aliases: [api] } } }
  client: { networks: [front], links: ["web:site"], dns: [10.9.9.9] }
  db: { networks: { back: { aliases: [PG, api] } }, hostname: database }
  legacy: { networks: [old] }
`;

describe('what each container sees', () => {
  const lab = labOf(LAB);
  const config = resolverConfig(lab)!;
  const labNames = new Set(config.labNames);
  const view = (c: string) => config.views.find((v) => v.container === c)!;
  const see = (c: string, name: string) => lookup(config, view(c), name, labNames);

  it('names, host names and aliases (case-insensitive) of containers on a shared network; links for the linker only', () => {
    expect(config.views.map((v) => v.container)).toEqual(['web', 'client', 'db']);
    expect(see('client', 'web')).toEqual({ kind: 'a', ips: ['10.1.1.2'] });
    expect(see('web', 'database')).toEqual({ kind: 'a', ips: ['10.1.2.3'] });
    expect(see('web', 'pg')).toEqual({ kind: 'a', ips: ['10.1.2.3'] });
    expect(see('db', 'api')).toEqual({ kind: 'a', ips: ['10.1.2.2', '10.1.2.3'] });
    expect(see('client', 'site')).toEqual({ kind: 'a', ips: ['10.1.1.2'] });
    expect(see('web', 'site')).toEqual({ kind: 'nxdomain' });
    expect(see('web', 'db.back')).toEqual({ kind: 'a', ips: ['10.1.2.3'] });
    expect(see('client', 'db.back')).toEqual({ kind: 'nxdomain' });
  });

  it('NXDOMAIN for a name of the lab on a network the container is not on; the rest goes upstream', () => {
    expect(see('client', 'db')).toEqual({ kind: 'nxdomain' });
    expect(see('client', 'api')).toEqual({ kind: 'nxdomain' });
    expect(see('client', 'example.org')).toEqual({ kind: 'upstream' });
    expect(see('db', reverseName('10.1.2.2'))).toEqual({ kind: 'ptr', name: 'web.back' });
    expect(see('client', reverseName('10.1.2.3'))).toEqual({ kind: 'nxdomain' });
  });

  it("forwards to the container's --dns, else the host's servers (loopback ones too: asked from the host)", () => {
    expect(view('client').upstreams).toEqual(['10.9.9.9']);
    expect(view('web').upstreams).toEqual(['192.0.2.53']);
    const stub = resolverConfig(labOf(LAB, 'nameserver 127.0.0.53\nnameserver ::1\n'))!;
    expect(stub.views[0]!.upstreams).toEqual(['127.0.0.53']);
    const internal = resolverConfig(labOf('networks:\n  i: { internal: true }\ncontainers:\n  a: {}\n'))!;
    expect(internal.views[0]!.upstreams).toEqual([]);
  });

  it("keeps the default bridge's files for a network without DNS, and Docker's user-defined ones otherwise", () => {
    const c = (n: string) => lab.containers.find((x) => x.name === n)!;
    expect(c('legacy').resolver).toBeUndefined();
    expect(c('legacy').files.resolv).toContain('nameserver 192.0.2.53');
    expect(c('web').files.resolv).toContain('nameserver 127.0.0.11\n');
    expect(c('web').files.hosts).toBe('127.0.0.1\tlocalhost\n10.1.1.2\tweb\n');
    expect(c('client').files.hosts).toBe('127.0.0.1\tlocalhost\n10.1.1.2\tsite web\n10.1.1.3\tclient\n');
    expect(resolverConfig(labOf('containers:\n  a: {}\n  b: {}\n'))).toBeUndefined();
    // On a DNS network and one without: the embedded DNS, and the hosts-file peers for the other.
    const mixed = labOf(LAB.replace('  legacy: { networks: [old] }', '  legacy: { networks: [old] }\n  both: { networks: [front, old] }')).containers.find((x) => x.name === 'both')!;
    expect(mixed.resolver).toMatchObject({ hostsPeers: true });
    expect(mixed.files.hosts).toContain('10.1.3.2\tlegacy\n');
  });
});

describe('answers on the wire (dns-packet)', () => {
  const config = resolverConfig(labOf(LAB))!;
  const view = (c: string) => config.views.find((v) => v.container === c)!;
  const ask = async (a: ReturnType<typeof answerer>, c: string, name: string, type: 'A' | 'AAAA' | 'PTR' = 'A') =>
    dnsPacket.decode((await answer(a, view(c), dnsPacket.encode({ type: 'query', id: 7, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type, name }] })))!);

  it('rotates the holders of a name, one turn per query', async () => {
    const a = answerer(config);
    const first = await ask(a, 'db', 'api');
    const second = await ask(a, 'db', 'API.');
    expect(first.id).toBe(7);
    expect(first.rcode).toBe('NOERROR');
    expect(first.answers!.map((x) => x.data)).toEqual(['10.1.2.2', '10.1.2.3']);
    expect(second.answers!.map((x) => x.data)).toEqual(['10.1.2.3', '10.1.2.2']);
  });

  it('NXDOMAIN, NODATA for AAAA of a lab name, PTR', async () => {
    const a = answerer(config);
    expect((await ask(a, 'client', 'db')).rcode).toBe('NXDOMAIN');
    const aaaa = await ask(a, 'client', 'web', 'AAAA');
    expect([aaaa.rcode, aaaa.answers!.length]).toEqual(['NOERROR', 0]);
    const ptr = await ask(a, 'web', '3.2.1.10.in-addr.arpa', 'PTR');
    expect(ptr.answers![0]).toMatchObject({ type: 'PTR', data: 'db.back' });
  });

  it('SERVFAIL when no upstream answers, within the deadline', async () => {
    // A loopback address nothing listens on: the query stays on this machine and gets no answer.
    const a = answerer({ ...config, views: config.views.map((v) => ({ ...v, upstreams: ['127.247.0.254'] })) });
    const t0 = Date.now();
    const r = await ask(a, 'web', 'nowhere.example');
    expect(r.rcode).toBe('SERVFAIL');
    expect(Date.now() - t0).toBeLessThan(2500);
  });
});

describe('resolv.conf (Docker TransformForIntNS / ForLegacyNw)', () => {
  it('points at 127.0.0.11 and lists the real servers as ExtServers, loopback ones as host(...)', () => {
    const text = internalResolvConf('nameserver 127.0.0.53\nnameserver 10.0.0.1\nsearch corp.example\n', '/etc/resolv.conf');
    expect(text).toContain('\nnameserver 127.0.0.11\nsearch corp.example\noptions ndots:0\n');
    expect(text).toContain('# ExtServers: [host(127.0.0.53) 10.0.0.1]\n# Overrides: []\n# Option ndots from: internal\n');
    const own = internalResolvConf('nameserver 10.0.0.1\noptions ndots:2\n', '/etc/resolv.conf', { servers: ['10.2.2.2'], search: ['lab.test'] });
    expect(own).toContain('search lab.test\noptions ndots:2\n');
    expect(own).toContain('# ExtServers: [10.2.2.2]\n# Overrides: [nameservers search]\n# Option ndots from: host\n');
  });

  it("on the default bridge, --dns replaces the host's servers", () => {
    expect(resolvConf('nameserver 10.0.0.1\n', '/etc/resolv.conf', false, { servers: ['10.3.3.3'] })).toContain('nameserver 10.3.3.3\n\n# Based on host file');
  });
});

describe('the YAML', () => {
  const problems = (yaml: string) => {
    try {
      parseTopology(yaml, { source: 'netlab.yaml', defaultName: 'x' });
    } catch (e) {
      if (e instanceof InputError) return e.message;
      throw e;
    }
    return '';
  };

  it('takes networks as a map with aliases, and names the place of each mistake', () => {
    expect(problems('networks:\n  n: {}\ncontainers:\n  a: { networks: { n: { aliases: [db] } } }\n')).toBe('');
    expect(problems('networks:\n  n: { dns: false }\ncontainers:\n  a: { networks: { n: { aliases: [db] } } }\n')).toMatch(/containers\.a\.networks\.n\.aliases.*user-defined network/);
    expect(problems('networks:\n  n: {}\ncontainers:\n  a: { networks: { m: {} } }\n')).toMatch(/containers\.a\.networks\.m.*unknown network "m"/);
    expect(problems('containers:\n  a: { networks: { default: { aliases: [db] } } }\n')).toMatch(/aliases need a user-defined network/);
    expect(problems('networks:\n  n: {}\ncontainers:\n  a: { dns: [nope] }\n')).toMatch(/containers\.a\.dns\[0\].*not an IPv4 address/);
    expect(problems('networks:\n  n: {}\ncontainers:\n  a: { networks: { n: { aliases: ["bad name"] } } }\n')).toMatch(/aliases/);
  });
});
