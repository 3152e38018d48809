/**
 * Docker's port specs: `expose` entries (`80`, `53/udp`, `7000-7010`) and `publish` entries
 * (`[ip:][hostPort[-end]:]containerPort[-end][/proto]`). Pure; errors are thrown as
 * PortSpecError with a message that the loader prefixes with the YAML path.
 */
import { isIPv6 } from 'node:net';
import { parseIp } from './ipv4.js';
import { specialAddress } from './special.js';

export type Proto = 'tcp' | 'udp' | 'sctp';
export const PROTOS: readonly Proto[] = ['tcp', 'udp', 'sctp'];

export interface PortProto {
  port: number;
  proto: Proto;
}

/** One host-port-to-container-port binding. hostPort 0 means "pick one in [hostPortMin, hostPortMax]". */
export interface PortBinding {
  hostIp: string;
  hostPort: number;
  /** When the host side was a range mapped to a single container port: pick one free port in it. */
  hostRange?: { start: number; end: number };
  containerPort: number;
  proto: Proto;
  /** A published range `a-b:c-d` is one binding of this many ports, port for port; absent: one port. */
  count?: number;
}

export class PortSpecError extends Error {}

function parsePort(text: string, what: string): number {
  if (!/^\d{1,5}$/.test(text)) throw new PortSpecError(`${what} "${text}" is not a port number`);
  const n = Number(text);
  if (n < 1 || n > 65535) throw new PortSpecError(`${what} ${n} is out of range (1-65535)`);
  return n;
}

function parseRange(text: string, what: string): { start: number; end: number } {
  const [a, b, extra] = text.split('-');
  if (extra !== undefined || a === undefined) throw new PortSpecError(`${what} "${text}" is not a port or range`);
  const start = parsePort(a, what);
  const end = b === undefined ? start : parsePort(b, what);
  if (end < start) throw new PortSpecError(`${what} range "${text}" ends before it starts`);
  return { start, end };
}

function splitProto(text: string): [string, Proto] {
  const [body, proto, extra] = text.split('/');
  if (extra !== undefined || body === undefined) throw new PortSpecError(`"${text}" has more than one "/"`);
  if (proto === undefined) return [body, 'tcp'];
  const p = proto.toLowerCase();
  if (!PROTOS.includes(p as Proto)) throw new PortSpecError(`protocol "${proto}" is not one of ${PROTOS.join(', ')}`);
  return [body, p as Proto];
}

/** `80`, `80/udp`, `7000-7010/tcp` → the ports it names. */
export function parseExpose(spec: string | number): PortProto[] {
  const [body, proto] = splitProto(String(spec));
  const { start, end } = parseRange(body, 'port');
  return Array.from({ length: end - start + 1 }, (_, i) => ({ port: start + i, proto }));
}

/**
 * `8080:80`, `127.0.0.1:8080:80`, `127.0.0.1::80`, `80`, `8000-8002:80-82`, `8000-9000:80`,
 * `5353:53/udp` → bindings. A range maps port for port; a host range to one container port picks
 * one free host port from the range (Docker's semantics).
 */
export function parsePublish(spec: string | number): PortBinding[] {
  const [body, proto] = splitProto(String(spec));
  const [ipText, rest] = splitHostIp(body);
  const parts = rest.split(':');
  let hostIp = '0.0.0.0';
  let hostText: string | undefined;
  let ctrText: string;
  if (ipText === undefined && parts.length === 1) {
    ctrText = parts[0]!;
  } else if (ipText === undefined && parts.length === 2) {
    [hostText, ctrText] = parts as [string, string];
  } else if (ipText !== undefined && parts.length === 2) {
    hostIp = parseHostIp(ipText);
    hostText = parts[0] || undefined;
    ctrText = parts[1]!;
  } else {
    throw new PortSpecError(`"${spec}" is not [ip:][hostPort:]containerPort[/proto]`);
  }
  const ctr = parseRange(ctrText, 'container port');
  const ctrCount = ctr.end - ctr.start + 1;
  if (hostText === undefined || hostText === '') {
    return range(ctr.start, ctr.end).map((p) => ({ hostIp, hostPort: 0, containerPort: p, proto }));
  }
  const host = parseRange(hostText, 'host port');
  const hostCount = host.end - host.start + 1;
  if (ctrCount === 1 && hostCount > 1) {
    return [{ hostIp, hostPort: 0, hostRange: host, containerPort: ctr.start, proto }];
  }
  if (hostCount !== ctrCount) {
    throw new PortSpecError(`invalid ranges specified for container and host ports: ${ctrText} and ${hostText}`);
  }
  const binding: PortBinding = { hostIp, hostPort: host.start, containerPort: ctr.start, proto };
  return [ctrCount > 1 ? { ...binding, count: ctrCount } : binding];
}

/** How many ports `b` covers on each side. */
export const portCount = (b: PortBinding): number => b.count ?? 1;

/** The host ports `b` publishes (none when the host picks it). */
export function hostPortsOf(b: PortBinding): number[] {
  return b.hostPort ? range(b.hostPort, b.hostPort + portCount(b) - 1) : [];
}

/** Whether host port `port`/`proto` is one of `b`'s, and the container port it goes to. */
export function containerPortOf(b: PortBinding, port: number, proto: string): number | undefined {
  const offset = port - b.hostPort;
  return b.hostPort && b.proto === proto && offset >= 0 && offset < portCount(b) ? b.containerPort + offset : undefined;
}

/** Whether one of `bindings` forwards to a container port: a set of the single ports, the ranges tested one by one. */
export function forwardedBy(bindings: readonly PortBinding[]): (p: PortProto) => boolean {
  const single = new Set(bindings.filter((b) => portCount(b) === 1).map((b) => `${b.containerPort}/${b.proto}`));
  const ranges = bindings.filter((b) => portCount(b) > 1);
  return (p) => single.has(portKey(p)) || ranges.some((b) => b.proto === p.proto && p.port >= b.containerPort && p.port < b.containerPort + portCount(b));
}

/** Each port of `b` as a one-port binding: Docker's per-port views (inspect, `port`) list a range port by port. */
export function eachPort<B extends PortBinding>(b: B): B[] {
  const n = portCount(b);
  if (n === 1) return [b];
  const { count: _count, ...one } = b;
  return Array.from({ length: n }, (_, i) => ({ ...one, hostPort: b.hostPort + i, containerPort: b.containerPort + i }) as B);
}

/**
 * The host address of a publish entry and the rest: `127.0.0.1:8080:80`, `[::1]:8080:80`, or
 * as Docker also takes it, an IPv6 address without brackets (`::1:8080:80`: the last two
 * fields are the ports).
 */
function splitHostIp(body: string): [string | undefined, string] {
  const bracket = /^\[([^\]]*)\]:(.*)$/.exec(body);
  if (bracket) return [bracket[1]!, bracket[2]!];
  const parts = body.split(':');
  if (parts.length < 3) return [undefined, body];
  return [parts.slice(0, -2).join(':'), parts.slice(-2).join(':')];
}

/** A host address to publish on, IPv6 in the canonical form ip6tables and nft print. */
function parseHostIp(ip: string): string {
  if (ip.includes(':')) return parseHostIp6(ip);
  const addr = parseIp(ip);
  if (addr === undefined) throw new PortSpecError(`host address "${ip}" is not an IPv4 address, nor an IPv6 one ([2001:db8::1])`);
  // 0.0.0.0 is Docker's "every address"; any other special address is no host's own.
  const special = addr === 0 ? undefined : specialAddress(addr, true);
  if (special) throw new PortSpecError(`host address ${ip} ${special}: publish on one of the host's addresses, or 0.0.0.0 for all`);
  return ip;
}

function parseHostIp6(ip: string): string {
  if (!isIPv6(ip) || ip.includes('%')) throw new PortSpecError(`host address "${ip}" is not an IPv6 address`);
  // The URL parser writes an IPv6 address in RFC 5952's form, as inet_ntop does: lower case, longest zero run as "::".
  const canonical = new URL(`http://[${ip}]/`).hostname.slice(1, -1);
  const first = Number.parseInt(canonical.split(':')[0] || '0', 16);
  if (first >= 0xff00) throw new PortSpecError(`host address ${ip} is multicast: publish on one of the host's addresses, or [::] for all`);
  if (first >= 0xfe80 && first <= 0xfebf) throw new PortSpecError(`host address ${ip} is link-local, which names no single interface here: publish on a global or ULA address, or [::] for all`);
  if (canonical.startsWith('::ffff:')) throw new PortSpecError(`host address ${ip} is an IPv4-mapped address: publish on the IPv4 address itself`);
  return canonical;
}

/** An IPv6 host address (`::`, `::1`, `2001:db8::1`). */
export function isIp6(ip: string): boolean {
  return ip.includes(':');
}

function range(a: number, b: number): number[] {
  return Array.from({ length: b - a + 1 }, (_, i) => a + i);
}

/** `0.0.0.0`, `[::]`: a host address as Docker prints it before a port. */
export function hostIpText(ip: string): string {
  return isIp6(ip) ? `[${ip}]` : ip;
}

const span = (start: number, n: number) => (n === 1 ? String(start) : `${start}-${start + n - 1}`);

/** Docker's `ps` form: `0.0.0.0:8080->80/tcp`, `[::]:8080->80/tcp`, `0.0.0.0:10000-19999->10000-19999/tcp`. */
export function formatBinding(b: PortBinding): string {
  return `${hostIpText(b.hostIp)}:${b.hostPort ? span(b.hostPort, portCount(b)) : '?'}->${span(b.containerPort, portCount(b))}/${b.proto}`;
}

export function portKey(p: PortProto): string {
  return `${p.port}/${p.proto}`;
}
