/** The IPv6 loopback proxy's pure part: which published ports [::1] reaches, and where each goes. */
import { describe, expect, it } from 'vitest';
import { parseTopology } from '../../src/topology/load.js';
import { resolveLab, type Lab } from '../../src/model/lab.js';
import { proxyConfig, PROXY_PORT_CAP, reachesIpv6Loopback } from '../../src/proxy/config.js';
import { proxySection } from '../../src/proxy/explain.js';
import { emptyHostContext } from '../helpers/context.js';

const labOf = (yaml: string, host?: string) => resolveLab(parseTopology(yaml, { source: 'x.yaml', defaultName: 'x' }), emptyHostContext, host);

const LAB = `
networks:
  n: { subnet: 10.1.1.0/24 }
  m: { subnet: 10.1.2.0/24 }
containers:
  web: { networks: [m, n], publish: ["8080:80", "127.0.0.1:8081:80", "192.0.2.7:8082:80", "0.0.0.0:5353:53/udp", "9000:9000/sctp"] }
  api: { networks: [n], publish: ["8000-8002:80-82"] }
`;

describe('the IPv6 loopback proxy config', () => {
  it('covers the unspecified host address, [::] and [::1]: not 127.0.0.1 (DNAT) nor another address', () => {
    expect(['0.0.0.0', '', '::', '::1'].map(reachesIpv6Loopback)).toEqual([true, true, true, true]);
    expect(['127.0.0.1', '192.0.2.7', '2001:db8::1'].map(reachesIpv6Loopback)).toEqual([false, false, false]);
  });

  it('forwards each port to the container address on its published network, in port order, one listener per port of a range, SCTP left out', () => {
    const { config, left } = proxyConfig(labOf(LAB));
    expect(left).toEqual([]);
    expect(config?.listen).toBe('::1');
    expect(config?.routes).toEqual([
      { proto: 'udp', port: 5353, target: '10.1.2.2', targetPort: 53, container: 'web' },
      { proto: 'tcp', port: 8000, target: '10.1.1.3', targetPort: 80, container: 'api' },
      { proto: 'tcp', port: 8001, target: '10.1.1.3', targetPort: 81, container: 'api' },
      { proto: 'tcp', port: 8002, target: '10.1.1.3', targetPort: 82, container: 'api' },
      { proto: 'tcp', port: 8080, target: '10.1.2.2', targetPort: 80, container: 'web' },
    ]);
  });

  it("goes to the container's IPv6 address when it has one there", () => {
    const lab = labOf(LAB);
    (lab.containers[0]!.ports[0] as { containerIp6?: string }).containerIp6 = 'fd33::2';
    expect(proxyConfig(lab).config?.routes.find((r) => r.port === 8080)?.target).toBe('fd33::2');
  });

  it('is wanted only when a port reaches [::1]', () => {
    expect(proxyConfig(labOf('containers:\n  a: { publish: ["127.0.0.1:80:80"] }\n  b: {}\n'))).toEqual({ left: [] });
  });

  it(`stops at ${PROXY_PORT_CAP} ports, lowest first, and tells which are left`, () => {
    const { config, left } = proxyConfig(labOf('containers:\n  a: { publish: ["20000-21199:20000-21199"] }\n'));
    expect(config?.routes).toHaveLength(PROXY_PORT_CAP);
    expect(config?.routes.at(-1)?.port).toBe(20999);
    expect(left.map((r) => r.port)).toEqual(Array.from({ length: 200 }, (_, i) => 21000 + i));
  });

  it("takes only this host's containers in a multi-host lab", () => {
    const yaml = `hosts:
  vm1: { underlay: 192.168.56.11 }
  vm2: { underlay: 192.168.56.12 }
networks:
  o: { subnet: 10.3.0.0/24, vxlan: { vni: 7 } }
containers:
  a: { host: vm1, networks: [o], publish: ["8080:80"] }
  b: { host: vm2, networks: [o], publish: ["9090:80"] }
`;
    const ports = (lab: Lab) => proxyConfig(lab).config?.routes.map((r) => r.port);
    expect(ports(labOf(yaml, 'vm1'))).toEqual([8080]);
    expect(ports(labOf(yaml, 'vm2'))).toEqual([9090]);
  });

  it("is in explain, with docker-proxy as its Docker meaning, the start command with the lab's mark, and each port's way", () => {
    const section = proxySection(labOf(LAB), true, '/usr/bin/node')!;
    expect(section.title).toBe('the IPv6 loopback proxy at [::1] (5 ports)');
    expect(section.why.join(' ')).toContain('docker-proxy');
    expect(section.why.join(' ')).toContain('no route_localnet');
    expect(section.commands[1]).toMatch(/^mkdir -p \S+ && \(NETLAB_PROXY6=x setsid \/usr\/bin\/node \S+\/proxy\/server\.js \S+\/x\/proxy6\.json >>/);
    expect(section.commands).toContain("# [::1]:8080/tcp -> 10.1.2.2:80 (container web; see it: ss -lnpt 'sport = :8080')");
    expect(proxySection(labOf(LAB), false)).toBeUndefined();
  });
});
