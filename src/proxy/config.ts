/**
 * What the lab's IPv6 loopback proxy forwards, decided from the resolved lab (pure). Linux has
 * no route_localnet for IPv6, so a packet to [::1] cannot be DNATed onto a bridge: Docker's
 * docker-proxy carries those connections, and so does this one process per lab.
 */
import type { Lab } from '../model/lab.js';
import { eachPort } from '../model/ports.js';

/** The one address the proxy listens on: every other host address is reached by the kernel's DNAT. */
export const PROXY_LISTEN = '::1';
/** At most this many listeners per lab (one per published host port); the rest are left out, and `up` says so. */
export const PROXY_PORT_CAP = 1000;

export interface ProxyRoute {
  proto: 'tcp' | 'udp';
  /** The host port, listened on at [::1]. */
  port: number;
  /** The container's address on the published network (its IPv6 one when it has one). */
  target: string;
  targetPort: number;
  container: string;
}

export interface ProxyConfig {
  lab: string;
  listen: string;
  routes: ProxyRoute[];
  /** Idle time of a UDP flow before and after the container answered (conntrack's udp_timeout and udp_timeout_stream). */
  udpTimeoutMs: { unreplied: number; replied: number };
}

/**
 * Host addresses whose port [::1] also reaches: the unspecified one (a plain `8080:80`, which
 * Docker publishes on both families), `[::]` and `[::1]`. 127.0.0.1 and other addresses are not.
 */
export function reachesIpv6Loopback(hostIp: string): boolean {
  return hostIp === '0.0.0.0' || hostIp === '' || hostIp === '::' || hostIp === '::1';
}

export const DEFAULT_UDP_TIMEOUT_MS = { unreplied: 30_000, replied: 120_000 };

/**
 * The proxy's config on `lab.host`, or undefined when no port there reaches [::1] (then no proxy
 * runs). `left` holds the routes past the cap.
 */
export function proxyConfig(lab: Lab, udpTimeoutMs = DEFAULT_UDP_TIMEOUT_MS): { config?: ProxyConfig; left: ProxyRoute[] } {
  const multi = lab.hosts.length > 0;
  const byPort = new Map<string, ProxyRoute>();
  for (const c of lab.containers) {
    if (multi && c.host !== lab.host) continue;
    // One listener per port: a range is listened on port by port, as docker-proxy does.
    for (const b of c.ports.flatMap(eachPort)) {
      const key = `${b.hostPort}/${b.proto}`;
      // Node has no SCTP sockets: an SCTP port is reached over 127.0.0.1 and the host's other addresses only.
      if (!b.hostPort || b.proto === 'sctp' || !reachesIpv6Loopback(b.hostIp) || byPort.has(key)) continue;
      const target = b.containerIp6 || b.containerIp;
      if (target) byPort.set(key, { proto: b.proto as ProxyRoute['proto'], port: b.hostPort, target, targetPort: b.containerPort, container: c.name });
    }
  }
  const routes = [...byPort.values()].sort((a, b) => a.port - b.port || a.proto.localeCompare(b.proto));
  if (routes.length === 0) return { left: [] };
  return { config: { lab: lab.name, listen: PROXY_LISTEN, routes: routes.slice(0, PROXY_PORT_CAP), udpTimeoutMs }, left: routes.slice(PROXY_PORT_CAP) };
}
