/**
 * The shape of a lab's state file (state.ts), checked when the file is not exactly what this
 * build of netlab wrote (edited by hand, cut short, written by another version). Loaded only
 * then: importing zod costs a short run more than all its kernel reads. Objects keep keys the
 * schema does not name (a field added to the lab's types still reaches the engine).
 */
import { z } from 'zod';
import type { StateFile } from './state.js';

const int = z.number().int();
const name = z.string().min(1);
const proto = z.enum(['tcp', 'udp', 'sctp']);
const portProto = z.looseObject({ port: int, proto });

const network = z.looseObject({
  name,
  bridge: name,
  subnet: z.looseObject({ network: int, prefix: int }),
  gateway: int,
  gateways: z.record(z.string(), int),
  icc: z.boolean(),
  ipMasquerade: z.boolean(),
  internal: z.boolean(),
  mtu: int,
  driver: z.enum(['bridge', 'ovs']),
  vxlan: z.looseObject({ vni: int, port: int }).optional(),
  // A state written before the embedded DNS: its networks were built with /etc/hosts names.
  dns: z.boolean().default(false),
});

const iface = z.looseObject({ network: name, ifname: name, hostVeth: name, bridge: name, ip: z.string(), prefix: int, gateway: z.string(), mac: z.string(), mtu: int });

const binding = z.looseObject({
  hostIp: z.string(),
  hostPort: int,
  hostRange: z.looseObject({ start: int, end: int }).optional(),
  containerPort: int,
  count: int.optional(),
  proto,
  containerIp: z.string(),
  bridge: name,
});

const container = z.looseObject({
  name,
  host: name.optional(),
  hostname: name,
  netns: name,
  interfaces: z.array(iface),
  expose: z.array(portProto),
  ports: z.array(binding),
  links: z.array(z.looseObject({ target: name, alias: name, ip: z.string() })),
  env: z.array(z.tuple([z.string(), z.string()])),
  ownEnv: z.record(z.string(), z.string()),
  command: z.union([z.string(), z.array(z.string())]).optional(),
  aliases: z.record(z.string(), z.array(z.string())).default({}),
  resolver: z.looseObject({ upstreams: z.array(z.string()), hostsPeers: z.boolean() }).optional(),
  // The /etc/hosts text is left out of the file (state.ts, labJson) and rebuilt when read.
  files: z.looseObject({ hosts: z.string().optional(), resolv: z.string(), hostname: z.string() }),
});

const lab = z.looseObject({
  name,
  source: z.string(),
  firewall: z.enum(['iptables', 'nftables']),
  hosts: z.array(z.looseObject({ name, underlay: z.string(), prefix: int })),
  host: name.optional(),
  networks: z.array(network),
  containers: z.array(container),
});

export const stateSchema = z.looseObject({
  version: z.literal(1),
  lab: name,
  host: name.optional(),
  source: z.string(),
  allocation: z.looseObject({ subnets: z.record(z.string(), z.string()), addresses: z.record(z.string(), z.string()), hostPorts: z.record(z.string(), int) }),
  planned: z.looseObject({ netns: z.array(z.string()), links: z.array(z.string()) }),
  started: z.record(z.string(), z.looseObject({ pid: int.positive(), specHash: z.string() })),
  resolved: lab,
  hostNetns: int.optional(),
  stamps: z.record(z.string(), z.string()).optional(),
  hostsIpv6: z.boolean().optional(),
  renderer: z.string().optional(),
  updatedAt: z.string(),
});

// What the schema lets through is a StateFile (the /etc/hosts texts aside, which the reader fills in).
type Checked = z.output<typeof stateSchema>;
type WithoutHosts<T> = Omit<T, 'resolved'> & {
  resolved: Omit<StateFile['resolved'], 'containers'> & {
    containers: (Omit<StateFile['resolved']['containers'][number], 'files'> & { files: { hosts?: string; resolv: string; hostname: string } })[];
  };
};
export const schemaCoversStateFile = (s: Checked): WithoutHosts<StateFile> => s;

/** The first problem zod found, as `resolved.containers[0].netns: expected string, received undefined`. */
export function checkState(data: unknown): { ok: true; state: StateFile } | { ok: false; problem: string } {
  const r = stateSchema.safeParse(data);
  if (r.success) return { ok: true, state: r.data as unknown as StateFile };
  const issue = r.error.issues[0]!;
  const path = issue.path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i > 0 ? '.' : ''}${String(p)}`)).join('');
  return { ok: false, problem: `${path || '(top level)'}: ${issue.message}` };
}
