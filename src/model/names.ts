import { createHash } from 'node:crypto';

/**
 * Every name netlab gives a kernel object, and the marks that say an object is netlab's.
 * Readable names live in link aliases and comments; device names, which the kernel limits to
 * 15 bytes (IFNAMSIZ - 1), are derived from a short hash.
 */

export const IFNAMSIZ_MAX = 15;
export const LAB_NAME = /^[a-z0-9][a-z0-9_-]{0,15}$/;
export const OBJECT_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$/;
export const IFNAME = /^[A-Za-z0-9_][A-Za-z0-9_-]{0,14}$/;

function shortHash(...parts: string[]): string {
  return createHash('sha256').update(parts.join('\0')).digest('hex').slice(0, 8);
}

/** The network namespace of a container, visible to `ip netns`. */
export function netnsName(lab: string, container: string): string {
  return `netlab-${lab}-${container}`;
}

/** Prefix shared by every namespace of a lab (a candidate list; marks decide ownership). */
export function netnsPrefix(lab: string): string {
  return `netlab-${lab}-`;
}

/** Host end of a container's veth pair: `nlv` + 8 hex digits (11 bytes). */
export function vethHostName(lab: string, container: string, network: string): string {
  return `nlv${shortHash(lab, container, network)}`;
}

/**
 * Host-side veth names for every (container, network) of a lab, in order: the short hash of
 * each, or, should two hashes collide, the hash salted with a counter, so no two are equal.
 */
export function vethHostNames(lab: string, pairs: { container: string; network: string }[], hash: (...parts: string[]) => string = shortHash): Map<string, string> {
  const names = new Map<string, string>();
  const used = new Set<string>();
  for (const { container, network } of pairs) {
    let name = `nlv${hash(lab, container, network)}`;
    for (let salt = 1; used.has(name); salt++) name = `nlv${hash(lab, container, network, String(salt))}`;
    used.add(name);
    names.set(`${container}/${network}`, name);
  }
  return names;
}

/** A network's bridge when the topology names none: `nlbr` + 8 hex digits, like Docker's `br-<id>`. */
export function defaultBridgeName(lab: string, network: string): string {
  return `nlbr${shortHash(lab, network)}`;
}

/** A network's VXLAN device on a host: `nlvx` + 8 hex digits. */
export function vxlanName(lab: string, network: string): string {
  return `nlvx${shortHash(lab, network)}`;
}

/** A network's Open vSwitch bridge, its port towards one remote host, and its internal port into the Linux bridge. */
export const ovsName = {
  bridge: (lab: string, network: string) => `nlov${shortHash(lab, network)}`,
  tunnel: (lab: string, network: string, remote: string) => `nlvp${shortHash(lab, network, remote)}`,
  plug: (lab: string, network: string) => `nlvi${shortHash(lab, network)}`,
  /** OpenFlow cookie that marks netlab's flows of a lab. */
  cookie: (lab: string) => `0x${shortHash('cookie', lab)}`,
};

/** `--simulate`: the namespace of a simulated machine, the underlay bridge, and a machine's uplink veth. */
export const simName = {
  hostNetns: (lab: string, host: string) => `netlab-${lab}-host-${host}`,
  underlayBridge: (lab: string) => `nlul${shortHash(lab)}`,
  uplink: (lab: string, host: string) => `nlup${shortHash(lab, host)}`,
  /** Userspace-datapath OVS needs the underlay address on an OVS bridge: this one, in the machine's namespace. */
  ovsUnderlay: (lab: string, host: string) => `nlub${shortHash(lab, host)}`,
};

/** Interface name inside the container for its n-th network: eth0, eth1, ... */
export function containerIfName(index: number): string {
  return `eth${index}`;
}

/** Link aliases are netlab's ownership mark in the kernel: `netlab:<lab>:<role>:<names>`. */
export const mark = {
  prefix: (lab: string) => `netlab:${lab}:`,
  bridge: (lab: string, network: string) => `netlab:${lab}:bridge:${network}`,
  veth: (lab: string, container: string, network: string) => `netlab:${lab}:veth:${container}:${network}`,
  /** Set as the alias of `lo` inside a container's namespace; with the host in a multi-host lab. */
  netns: (lab: string, container: string, host?: string) => `netlab:${lab}:ctr:${container}${host ? `:${host}` : ''}`,
  vxlan: (lab: string, network: string) => `netlab:${lab}:vxlan:${network}`,
  /** `--simulate`: a simulated machine's namespace (alias of its lo), the underlay bridge, a machine's uplink. */
  host: (lab: string, host: string) => `netlab:${lab}:host:${host}`,
  underlay: (lab: string) => `netlab:${lab}:underlay`,
  uplink: (lab: string, host: string) => `netlab:${lab}:uplink:${host}`,
  /** Comment on every firewall rule of the lab. */
  rule: (lab: string) => `netlab:${lab}`,
};

/**
 * The device group (`ip link ... group N`) of every link a lab makes, given when the link is
 * created: the kernel takes no alias then, so a run killed between making a link and setting
 * its alias leaves a link that only this group tells from one someone else made. Never 0 (the
 * default group every other link is in).
 */
export function linkGroup(lab: string): number {
  return parseInt(shortHash('group', lab), 16) & 0x7fffffff || 1;
}

/** Parses a mark back into its parts, or undefined when the text is not netlab's. */
export function parseMark(text: string | undefined): { lab: string; role: string; names: string[] } | undefined {
  if (!text?.startsWith('netlab:')) return undefined;
  const [, lab, role, ...names] = text.split(':');
  if (!lab || !role) return undefined;
  return { lab, role, names };
}

/** The lab's own iptables chains (at most 28 bytes: `NL-` + 16 + `-PORTS`). */
export const chain = {
  dnat: (lab: string) => `NL-${lab}-DNAT`,
  postrouting: (lab: string) => `NL-${lab}-POST`,
  forward: (lab: string) => `NL-${lab}-FWD`,
  ports: (lab: string) => `NL-${lab}-PORTS`,
  raw: (lab: string) => `NL-${lab}-RAW`,
};

/** Turns a folder name into a valid lab name (lower case, at most 16 characters). */
export function labNameFromFolder(folder: string): string {
  const cleaned = folder
    .toLowerCase()
    .replace(/[^a-z0-9_-]+/g, '-')
    .replace(/^[-_]+/, '')
    .slice(0, 16)
    .replace(/[-_]+$/, '');
  return cleaned || 'lab';
}

/** Docker's alias sanitising for link variables: upper case, `-` becomes `_`. */
export function envAlias(alias: string): string {
  return alias.toUpperCase().replaceAll('-', '_');
}

/** Docker <= 27: container MAC = 02:42 followed by the four bytes of its IPv4 address. */
export function macFromIp(ip: number): string {
  const bytes = [0x02, 0x42, ip >>> 24, (ip >>> 16) & 255, (ip >>> 8) & 255, ip & 255];
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
}
