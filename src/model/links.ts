/**
 * Docker's legacy links (`--link name[:alias]`), in the classic (<= 27) format of
 * daemon/links/links.go: the environment variables a parent sees and its /etc/hosts line.
 */
import { envAlias } from './names.js';
import type { PortProto } from './ports.js';

export interface LinkSpec {
  /** Container linked to (the child). */
  target: string;
  alias: string;
}

/** `web` or `web:webalias`; more than one colon is Docker's "bad format for links". */
export function parseLink(spec: string): LinkSpec {
  const parts = spec.split(':');
  if (parts.length > 2 || parts.some((p) => p === '')) throw new Error(`bad format for links: ${spec}`);
  return { target: parts[0]!, alias: parts[1] ?? parts[0]! };
}

export interface LinkedChild {
  name: string;
  ip: string;
  /** Exposed ports, which include published ones. */
  ports: PortProto[];
  env: Record<string, string>;
}

/** Docker <= 27 sort: by number, TCP first on a tie. */
function sortPorts(ports: PortProto[]): PortProto[] {
  return [...ports].sort((a, b) => a.port - b.port || (a.proto === 'tcp' ? -1 : b.proto === 'tcp' ? 1 : 0));
}

function nextContiguous(ports: PortProto[], value: number, index: number): number {
  if (index + 1 === ports.length) return index;
  for (let i = index + 1; i < ports.length; i++) {
    if (ports[i]!.port > value + 1) return i - 1;
    value++;
  }
  return ports.length - 1;
}

/** The variables `parent` gets for its link to `child` as `alias`, in Docker's emission order. */
export function linkEnv(parent: string, alias: string, child: LinkedChild): [string, string][] {
  const A = envAlias(alias);
  const ip = child.ip;
  const ports = sortPorts(child.ports);
  const env: [string, string][] = [];
  const P = (p: PortProto) => `${A}_PORT_${p.port}_${p.proto.toUpperCase()}`;
  if (ports.length > 0) env.push([`${A}_PORT`, `${ports[0]!.proto}://${ip}:${ports[0]!.port}`]);
  for (let i = 0; i < ports.length; ) {
    const p = ports[i]!;
    const j = nextContiguous(ports, p.port, i);
    if (j > i + 1) {
      const q = ports[j]!;
      env.push([`${P(p)}_START`, `${p.proto}://${ip}:${p.port}`]);
      env.push([`${P(p)}_ADDR`, ip]);
      env.push([`${P(p)}_PROTO`, p.proto]);
      env.push([`${P(p)}_PORT_START`, String(p.port)]);
      env.push([`${A}_PORT_${p.port}_${q.proto.toUpperCase()}_END`, `${q.proto}://${ip}:${q.port}`]);
      env.push([`${A}_PORT_${p.port}_${q.proto.toUpperCase()}_PORT_END`, String(q.port)]);
      i = j + 1;
    } else {
      i++;
    }
  }
  for (const p of ports) {
    env.push([P(p), `${p.proto}://${ip}:${p.port}`]);
    env.push([`${P(p)}_ADDR`, ip]);
    env.push([`${P(p)}_PORT`, String(p.port)]);
    env.push([`${P(p)}_PROTO`, p.proto]);
  }
  env.push([`${A}_NAME`, `/${parent}/${alias}`]);
  for (const [k, v] of Object.entries(child.env)) {
    if (k === 'HOME' || k === 'PATH') continue;
    env.push([`${A}_ENV_${k}`, v]);
  }
  return env;
}

/** Names for one address in /etc/hosts, in order and without repeats. */
export function hostsNames(...names: (string | undefined)[]): string[] {
  return [...new Set(names.filter((n): n is string => !!n))];
}
