/**
 * The shape of netlab.yaml, checked by zod. Cross-field rules (a link's target exists, an
 * address is inside its subnet, ...) are in validate.ts, which can name the place of each.
 */
import { z } from 'zod';
import { LAB_NAME, OBJECT_NAME, IFNAME } from '../model/names.js';

const portSpec = z.union([z.string(), z.number().int()]);
const name = z.string().regex(OBJECT_NAME, 'must start with a letter or digit and use only letters, digits, "_", "." and "-" (at most 32)');

export const networkSchema = z.strictObject({
  bridge: z.string().regex(IFNAME, 'must be an interface name: letters, digits, "_" or "-", at most 15 bytes').optional(),
  subnet: z.string().optional(),
  gateway: z.string().optional(),
  icc: z.boolean().default(true),
  ipMasquerade: z.boolean().default(true),
  internal: z.boolean().default(false),
  mtu: z.number().int().min(576).max(9000).default(1500),
});

export const containerSchema = z.strictObject({
  networks: z.array(name).min(1).optional(),
  ip: z.union([z.string(), z.record(z.string(), z.string())]).optional(),
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
});

export const topologySchema = z.strictObject({
  name: z.string().regex(LAB_NAME, 'must be 1-16 characters: lower-case letters, digits, "_" or "-", starting with a letter or digit').optional(),
  firewall: z.enum(['iptables', 'nftables']).default('iptables'),
  networks: z.record(name, networkSchema.nullable().transform((n) => n ?? networkSchema.parse({}))).optional(),
  containers: z.record(name, containerSchema.nullable().transform((c) => c ?? containerSchema.parse({}))).default({}),
});

export type RawTopology = z.infer<typeof topologySchema>;
export type RawNetwork = z.infer<typeof networkSchema>;
export type RawContainer = z.infer<typeof containerSchema>;
