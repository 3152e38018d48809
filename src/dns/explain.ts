/**
 * `explain`'s part for the embedded DNS: the resolver's config written, the process started
 * with the lab's mark and its pid recorded (what `up` does), and per namespace the socket it
 * opens there, as the command that shows it.
 */
import type { Lab } from '../model/lab.js';
import type { ExplainSection } from '../plan/explain.js';
import { shellQuote } from '../plan/render.js';
import { EMBEDDED_DNS } from '../model/etcfiles.js';
import { resolverConfig } from './records.js';
import { RESOLVER_MARK, RESOLVER_SCRIPT, resolverFiles } from './lifecycle.js';

export function dnsSection(lab: Lab, nodePath = process.execPath): ExplainSection | undefined {
  const config = resolverConfig(lab);
  if (!config) return undefined;
  const host = lab.hosts.length > 0 ? lab.host : undefined;
  const files = resolverFiles(lab.name, host);
  const q = shellQuote;
  const dir = (p: string) => q(p.slice(0, p.lastIndexOf('/')));
  const mark = host ? `${lab.name}/${host}` : lab.name;
  const commands = [
    `mkdir -p ${dir(files.config)} && cat > ${q(files.config)} <<'EOF'\n${JSON.stringify(config)}\nEOF`,
    `mkdir -p ${dir(files.log)} && (${RESOLVER_MARK}=${q(mark)} setsid ${q(nodePath)} ${q(RESOLVER_SCRIPT)} ${q(files.config)} >>${q(files.log)} 2>&1 </dev/null & echo $! > ${q(files.pid)})`,
    ...config.views.map((v) => `# in ${v.ns}: udp and tcp ${EMBEDDED_DNS}:53 (see them: ip netns exec ${v.ns} ss -lntu 'sport = :53')`),
  ];
  const nets = lab.networks.filter((n) => n.dns).map((n) => n.name);
  return {
    subject: { kind: 'dns' },
    title: `the embedded DNS at ${EMBEDDED_DNS} (networks ${nets.join(', ')})`,
    why: [
      `Docker: on a user-defined network the daemon's embedded DNS server answers at ${EMBEDDED_DNS} inside every container, with the names, hostnames and --network-alias names of the containers that share a network with it (round robin when several hold one), PTR records for their addresses, a --link alias for the linking container only, and everything else forwarded to the host's resolvers or --dns.`,
      `netlab runs one resolver per lab, like podman's aardvark-dns: it enters each container's network namespace (setns), binds ${EMBEDDED_DNS}:53 there (UDP and TCP; lo holds 127.0.0.0/8) and returns, so one process serves every container. Docker binds a random port and adds DNAT rules in the container's DOCKER_OUTPUT/DOCKER_POSTROUTING chains instead, which keeps port 53 free for a DNS server of the container's own.`,
      `resolv.conf says "nameserver ${EMBEDDED_DNS}"; /etc/hosts holds only localhost, the links and the container's own names. A SIGHUP makes the resolver re-read its config when the lab changes.`,
    ],
    ops: [],
    commands,
  };
}
