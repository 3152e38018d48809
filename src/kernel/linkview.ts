/** What the observer reads about links and routes, in the shape of `ip -j -d addr show` / `ip -j route show`, whichever backend read it. */
export interface IpLink {
  ifname: string;
  ifalias?: string;
  mtu: number;
  flags: string[];
  master?: string;
  address?: string;
  link_netnsid?: number;
  /** Device group: a number (the netlink dump), or as `ip -j` prints it (`default`, a name from /etc/iproute2/group, a number). */
  group?: number | string;
  linkinfo?: { info_kind?: string; info_data?: { id?: number; port?: number; local?: string }; info_slave_kind?: string; info_slave_data?: { hairpin?: boolean } };
  addr_info?: { family: string; local: string; prefixlen: number; scope?: string }[];
  /** Not in `ip -j`: net.ipv6.conf.<ifname>.disable_ipv6 (absent without IPv6); read with the links (nldump.ts) or from /proc/sys. */
  ipv6_disabled?: boolean;
}

export interface IpRoute {
  dst: string;
  gateway?: string;
  dev: string;
  protocol?: string;
}

export interface NamespaceView {
  links: IpLink[];
  routes: IpRoute[];
}
