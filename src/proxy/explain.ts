/**
 * `explain`'s part for the IPv6 loopback proxy: its config written, the process started with
 * the lab's mark and its pid recorded (what `up` does), and the ports it listens on.
 */
import type { Lab } from '../model/lab.js';
import type { ExplainSection } from '../plan/explain.js';
import { shellQuote } from '../plan/render.js';
import { PROXY_PORT_CAP } from './config.js';
import { PROXY_MARK, PROXY_SCRIPT, proxyFiles, proxyMarkOf } from './lifecycle.js';
import { wantedProxy } from './sync.js';

export function proxySection(lab: Lab, ipv6: boolean, nodePath = process.execPath): ExplainSection | undefined {
  const { config, left } = wantedProxy(lab, ipv6);
  if (!config) return undefined;
  const host = lab.hosts.length > 0 ? lab.host : undefined;
  const files = proxyFiles(lab.name, host);
  const q = shellQuote;
  const dir = (p: string) => q(p.slice(0, p.lastIndexOf('/')));
  const target = (t: string) => (t.includes(':') ? `[${t}]` : t);
  const commands = [
    `mkdir -p ${dir(files.config)} && cat > ${q(files.config)} <<'EOF'\n${JSON.stringify(config)}\nEOF`,
    `mkdir -p ${dir(files.log)} && (${PROXY_MARK}=${q(proxyMarkOf(lab.name, host))} setsid ${q(nodePath)} ${q(PROXY_SCRIPT)} ${q(files.config)} >>${q(files.log)} 2>&1 </dev/null & echo $! > ${q(files.pid)})`,
    ...config.routes.map((r) => `# [::1]:${r.port}/${r.proto} -> ${target(r.target)}:${r.targetPort} (container ${r.container}; see it: ss -lnp${r.proto === 'tcp' ? 't' : 'u'} 'sport = :${r.port}')`),
  ];
  const udp = config.udpTimeoutMs;
  return {
    subject: { kind: 'proxy' },
    title: `the IPv6 loopback proxy at [::1] (${config.routes.length} port${config.routes.length === 1 ? '' : 's'})`,
    why: [
      `Docker: docker-proxy, its userland proxy, listens on each published host port and opens a new connection to the container for every client; that is how Docker reaches a container from [::1]. The kernel cannot: IPv6 has no route_localnet, so a packet from ::1 DNATed onto a bridge would leave with a loopback source address, and the kernel drops it.`,
      `netlab runs one proxy per lab (Docker runs one process per port and per address family, moby#11185), for [::1] only: 127.0.0.1 keeps its DNAT (route_localnet on the bridge), and the host's other addresses keep theirs, which also keeps the client's address. Through the proxy the container sees the host's address on its network as the source, as with docker-proxy.`,
      `TCP: each side's end (FIN) is passed on, so a client that shuts down its sending side still gets the whole answer. UDP: one flow per client address and port, dropped after ${udp.unreplied / 1000} s idle, or ${udp.replied / 1000} s once the container answered (conntrack's udp_timeout and udp_timeout_stream). SCTP ports are not proxied.${left > 0 ? ` The proxy serves the first ${PROXY_PORT_CAP} ports; ${left} more are not reachable at [::1].` : ''}`,
    ],
    ops: [],
    commands,
  };
}
