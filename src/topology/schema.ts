/**
 * The shape of netlab.yaml, checked by zod. Cross-field rules (a link's target exists, an
 * address is inside its subnet, ...) are checked in load.ts, which can name the place of each.
 */
import { z } from 'zod';
import { LAB_NAME, OBJECT_NAME, IFNAME } from '../model/names.js';

const portSpec = z.union([z.string(), z.number().int()]);
const name = z.string().regex(OBJECT_NAME, 'must start with a letter or digit and use only letters, digits, "_", "." and "-" (at most 32)');

export const networkSchema = z.strictObject({
  bridge: z.string().regex(IFNAME, 'must be an interface name: letters, digits, "_" or "-", at most 15 bytes').optional(),
  subnet: z.string().optional(),
  gateway: z.string().optional(),
  /** Docker's `--ipv6`: IPv6 beside IPv4; with `ipv4: false` (Docker 28's `--ipv4=false`), IPv6 only. */
  ipv6: z.boolean().default(false),
  ipv4: z.boolean().default(true),
  subnet6: z.string().optional(),
  gateway6: z.string().optional(),
  /** NAT66 for traffic leaving the bridge, on by default as Docker 27+ does with ip6tables. */
  ip6Masquerade: z.boolean().default(true),
  icc: z.boolean().default(true),
  ipMasquerade: z.boolean().default(true),
  internal: z.boolean().default(false),
  /** Default 1500, or 1450 on a VXLAN overlay (50 bytes of encapsulation). */
  mtu: z.number().int().min(576).max(9000).optional(),
  /** `bridge`: a Linux bridge; `ovs`: a Linux bridge joined to an Open vSwitch bridge that carries the tunnels. */
  driver: z.enum(['bridge', 'ovs']).default('bridge'),
  /** A user-defined network's embedded DNS at 127.0.0.11; `false` keeps the default bridge's /etc/hosts names. */
  dns: z.boolean().default(true),
  /** Joins this network's bridges on every host into one L2 segment. */
  vxlan: z
    .strictObject({
      vni: z.number().int().min(1, 'must be between 1 and 16777215').max(16777215, 'must be between 1 and 16777215'),
      port: z.number().int().min(1).max(65535).default(4789),
    })
    .optional(),
});

export const hostSchema = z.strictObject({
  /** The host's address on the underlay network (`192.168.56.11` or `192.168.56.11/24`; /24 by default). */
  underlay: z.string(),
});

const hostName = z
  .string()
  .regex(/^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/, 'is not a valid host name')
  .max(253);
/** Link impairments of an interface (model/impair.ts checks the units and ranges). */
const impairValue = z.union([z.string(), z.number()]).optional();
export const impairSchema = z.strictObject({ delay: impairValue, jitter: impairValue, loss: impairValue, rate: impairValue });
/** A container's place on one network: `docker run --network-alias`, and this interface's impairment. */
const attachment = z.strictObject({ aliases: z.array(hostName).default([]), impair: impairSchema.optional() });

export const containerSchema = z.strictObject({
  /** The host that runs it, in a lab with `hosts`. */
  host: name.optional(),
  /** Network names in interface order, or a map of them to their per-network settings (`aliases`). */
  networks: z
    .union([
      z.array(name).min(1),
      z.record(
        name,
        attachment.nullable().transform((a) => a ?? attachment.parse({})),
      ),
    ])
    .optional(),
  ip: z.union([z.string(), z.record(z.string(), z.string())]).optional(),
  /** Static IPv6 addresses, like `ip`: one for the first network, or a map by network. */
  ip6: z.union([z.string(), z.record(z.string(), z.string())]).optional(),
  hostname: z
    .string()
    .regex(/^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/, 'is not a valid host name')
    .max(63)
    .optional(),
  expose: z.array(portSpec).default([]),
  publish: z.array(portSpec).default([]),
  publishAll: z.boolean().default(false),
  links: z.array(z.string()).default([]),
  env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'is not a variable name'), z.union([z.string(), z.number(), z.boolean()]).transform(String)).default({}),
  command: z.union([z.string().min(1), z.array(z.string()).min(1)]).optional(),
  /** Docker's --tmpfs, -v, --user, --workdir, --restart (topology/runtime.ts). */
  tmpfs: z.array(z.string()).optional(),
  volumes: z.array(z.string()).optional(),
  user: z.union([z.string().min(1), z.number().int().min(0)]).optional(),
  workdir: z.string().optional(),
  restart: z.string().optional(),
  healthcheck: z
    .strictObject({
      test: z.union([z.string().min(1), z.array(z.string()).min(1)]).optional(),
      interval: z.string().optional(),
      timeout: z.string().optional(),
      retries: z.number().int().min(1).max(1000).optional(),
      start_period: z.string().optional(),
      disable: z.boolean().optional(),
    })
    .optional(),
  /** Upstream name servers (docker --dns): the embedded DNS forwards to them, or resolv.conf lists them on the default bridge. */
  dns: z.array(z.string()).optional(),
  dnsSearch: z.array(hostName).optional(),
  dnsOptions: z.array(z.string().regex(/^[a-z][a-z0-9-]*(:\d+)?$/, 'is not a resolver option (e.g. ndots:2, rotate)')).optional(),
  /** Delay, jitter, loss and rate on every interface of the container (an attachment's own `impair` wins). */
  impair: impairSchema.optional(),
});

export const topologySchema = z.strictObject({
  name: z.string().regex(LAB_NAME, 'must be 1-16 characters: lower-case letters, digits, "_" or "-", starting with a letter or digit').optional(),
  firewall: z.enum(['iptables', 'nftables']).default('iptables'),
  hosts: z.record(name, hostSchema).optional(),
  networks: z
    .record(
      name,
      networkSchema.nullable().transform((n) => n ?? networkSchema.parse({})),
    )
    .optional(),
  containers: z
    .record(
      name,
      containerSchema.nullable().transform((c) => c ?? containerSchema.parse({})),
    )
    .default({}),
});

export type RawTopology = z.infer<typeof topologySchema>;
export type RawNetwork = z.infer<typeof networkSchema>;
export type RawContainer = z.infer<typeof containerSchema>;
