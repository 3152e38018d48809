import type { Cidr } from '../model/ipv4.js';
import type { PortBinding, PortProto } from '../model/ports.js';
import type { LinkSpec } from '../model/links.js';
import type { ContainerRuntime } from './runtime.js';
import type { ImpairSpec } from './impair.js';

/** A validated topology with every default filled in. Addresses are not allocated yet. */
export interface Topology {
  name: string;
  /** Where it came from: a path, or `<demo>` for the built-in lab. */
  source: string;
  firewall: 'iptables' | 'nftables';
  /** Machines of a multi-host lab, in file order; empty for a single-host lab. */
  hosts: HostDef[];
  networks: NetworkDef[];
  containers: ContainerDef[];
  /**
   * Lines of the entries whose conflicts only the host shows (`networks.n.subnet`,
   * `containers.web.publish[0]`), so that those messages name the line too. Absent for a
   * topology made in code.
   */
  lines?: Record<string, number>;
}

export interface HostDef {
  name: string;
  /** Underlay address, and the prefix of its network. */
  underlay: number;
  prefix: number;
}

export interface NetworkDef {
  name: string;
  bridge: string;
  subnet?: Cidr;
  gateway?: number;
  icc: boolean;
  ipMasquerade: boolean;
  internal: boolean;
  mtu: number;
  driver: 'bridge' | 'ovs';
  vxlan?: { vni: number; port: number };
  /** A user-defined network: names by the embedded DNS (127.0.0.11). False for the default bridge and `dns: false`. */
  dns: boolean;
  /** False: IPv6 only (Docker 28's `--ipv4=false`); containers get no IPv4 address on it. Absent: true. */
  ipv4?: boolean;
  /** `ipv6: true`: the network carries IPv6 beside (or instead of) IPv4. */
  enableIpv6?: boolean;
  /** The given IPv6 subnet, canonical (`fd31:0:0:1::/64`); absent: an automatic ULA /64. */
  subnet6?: string;
  /** The given IPv6 gateway, canonical; absent: the subnet's ::1. */
  gateway6?: string;
  /** NAT for IPv6 traffic leaving the bridge (Docker 27+: on, like ipMasquerade). Absent: true. */
  ip6Masquerade?: boolean;
}

export interface ContainerDef {
  name: string;
  /** Host that runs it (multi-host labs). */
  host?: string;
  hostname: string;
  /** Network names, in interface order (eth0, eth1, ...). */
  networks: string[];
  /** Static addresses by network name. */
  staticIps: Record<string, number>;
  /** Static IPv6 addresses by network name, canonical text. */
  staticIp6s?: Record<string, string>;
  /** Exposed ports: the `expose` list plus every published container port, as Docker's CLI adds them. */
  expose: PortProto[];
  publish: PortBinding[];
  /** For each binding of `publish`, the index of the `publish:` entry it comes from (absent: one binding per entry). */
  publishEntries?: number[];
  publishAll: boolean;
  links: LinkSpec[];
  env: Record<string, string>;
  /** A string runs through `sh -c` (Docker's shell form); an array is the program and its arguments. */
  command?: string | string[];
  /** Mounts, user, workdir, restart policy; absent in a topology cached by an older netlab. */
  runtime?: ContainerRuntime;
  /** Network-scoped aliases (docker --network-alias), by network name. */
  aliases: Record<string, string[]>;
  /** docker --dns, --dns-search, --dns-option. */
  dns?: string[];
  dnsSearch?: string[];
  dnsOptions?: string[];
  /** Link impairments of its interfaces, by network name (only those that have one). */
  impair?: Record<string, ImpairSpec>;
}
