/** SRC and DST of `netlab trace`: a container of the lab, `host`, or `outside`. */
import { InputError } from '../errors.js';
import type { Lab, LabContainer } from '../model/lab.js';
import { containerPortOf } from '../model/ports.js';

export interface Endpoint {
  name: string;
  kind: 'container' | 'host' | 'outside';
  netns?: string;
  container?: LabContainer;
}

export function parseEndpoint(lab: Lab, text: string, path: string): Endpoint {
  if (text === 'host') return { name: 'host', kind: 'host' };
  if (text === 'outside') return { name: 'outside', kind: 'outside' };
  const c = lab.containers.find((x) => x.name === text);
  if (!c) throw new InputError([{ path, message: `"${text}" is not a container of lab "${lab.name}" (it has: ${lab.containers.map((x) => x.name).join(', ') || 'none'}), nor "host" or "outside"` }]);
  return { name: c.name, kind: 'container', netns: c.netns, container: c };
}

/** DST[:PORT]. */
export function splitTarget(text: string): { name: string; port?: number } {
  const m = /^([^:]+)(?::(\d+))?$/.exec(text);
  if (!m) throw new InputError([{ path: 'DST', message: `"${text}" is not NAME or NAME:PORT` }]);
  const port = m[2] === undefined ? undefined : Number(m[2]);
  if (port !== undefined && (port < 1 || port > 65535)) throw new InputError([{ path: 'DST', message: `port ${port} is out of range (1-65535)` }]);
  return { name: m[1]!, port };
}

/**
 * The address the probe is sent to, as the source sees the destination: a container's own
 * address (on a network they share, if any), the host as the source's gateway (or the host's
 * end of the outside link, or 127.0.0.1 from the host itself), the outside machine's address.
 * From outside to a port published on a loopback address only, that address: see loopbackOnly.
 */
export function destinationAddress(from: Endpoint, to: Endpoint, outside?: { hostAddr: string; peerAddr: string; loopback?: string }): string {
  if (to.kind === 'container') {
    const shared = from.container?.interfaces.find((i) => to.container!.interfaces.some((j) => j.network === i.network));
    return (shared ? to.container!.interfaces.find((j) => j.network === shared.network)! : to.container!.interfaces[0]!).ip;
  }
  if (to.kind === 'outside') return outside!.peerAddr;
  if (from.kind === 'container') return from.container!.interfaces[0]!.gateway;
  if (from.kind === 'outside') return outside!.loopback ?? outside!.hostAddr;
  return '127.0.0.1';
}

export function sourceAddress(from: Endpoint, outside?: { peerAddr: string }): string {
  if (from.kind === 'container') return from.container!.interfaces[0]!.ip;
  if (from.kind === 'outside') return outside!.peerAddr;
  return 'the host';
}

/**
 * The loopback address a host port is published on, when it is published on no other address.
 * A neighbour reaches such a port only by routing that address to the host (moby#45610), which
 * is the packet Docker 28's raw rule, and netlab's, drops; the host's LAN address has no DNAT.
 */
export function loopbackOnly(lab: Lab, port: number, proto: string): string | undefined {
  const bindings = lab.containers.flatMap((c) => c.ports.filter((b) => containerPortOf(b, port, proto) !== undefined));
  return bindings.length > 0 && bindings.every((b) => b.hostIp.startsWith('127.')) ? bindings[0]!.hostIp : undefined;
}
