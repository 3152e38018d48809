/**
 * IPv4 blocks that are no place for a lab: a bridge there would shadow the host's loopback,
 * a multicast group or the link-local segment (where clouds keep their metadata service).
 */
import { contains, formatCidr, overlaps, parseCidr, type Cidr } from './ipv4.js';

const block = (cidr: string, what: string, why = '') => ({ cidr: parseCidr(cidr)!, what: `the ${what} range ${cidr}${why}` });

/** Every block a subnet may not overlap, with the words a message uses for it. */
export const SPECIAL_BLOCKS = {
  thisNetwork: block('0.0.0.0/8', '"this network"'),
  loopback: block('127.0.0.0/8', 'loopback'),
  linkLocal: block('169.254.0.0/16', 'link-local', ', which is never routed and holds the metadata service of cloud hosts'),
  multicast: block('224.0.0.0/4', 'multicast'),
  reserved: block('240.0.0.0/4', 'reserved', ' (with the broadcast address 255.255.255.255)'),
};

/** The special block `subnet` overlaps, described; undefined for an ordinary subnet. */
export function specialSubnet(subnet: Cidr): string | undefined {
  const hit = Object.values(SPECIAL_BLOCKS).find((b) => overlaps(b.cidr, subnet));
  return hit && `${formatCidr(subnet)} is in ${hit.what}: give the network an ordinary unicast subnet`;
}

/**
 * Why `ip` cannot be a machine's own unicast address (an underlay, the host side of a
 * published port); `allowLoopback` for ports, which Docker publishes on 127.0.0.1.
 */
export function specialAddress(ip: number, allowLoopback: boolean): string | undefined {
  const { thisNetwork, loopback, multicast, reserved } = SPECIAL_BLOCKS;
  const hit = [thisNetwork, ...(allowLoopback ? [] : [loopback]), multicast, reserved].find((b) => contains(b.cidr, ip));
  return hit && `is in ${hit.what}`;
}
