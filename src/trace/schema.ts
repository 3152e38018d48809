/**
 * The shape of `netlab trace --json`, checked by the tests against real traces: a key added,
 * renamed or dropped fails them, so the documented shape (docs/trace.md) and the output agree.
 */
import { z } from 'zod';

const endpoint = z.object({ name: z.string(), netns: z.string().optional(), address: z.string() }).strict();
const rule = z.object({ namespace: z.string(), table: z.string(), chain: z.string(), rule: z.string(), verdict: z.string(), lab: z.string().optional() }).strict();
const nat = z.object({ namespace: z.string(), kind: z.enum(['DNAT', 'SNAT', 'un-DNAT', 'un-SNAT']), before: z.string(), after: z.string() }).strict();
const step = z
  .object({
    namespace: z.string(),
    hook: z.string(),
    in: z.string().optional(),
    out: z.string().optional(),
    src: z.string(),
    dst: z.string(),
    rules: z.array(rule),
    nat: z.array(nat),
    tunnel: z
      .object({ kind: z.literal('vxlan'), vni: z.number().int() })
      .strict()
      .optional(),
  })
  .strict();
const leg = z.object({ packet: z.string(), steps: z.array(step) }).strict();

export const traceResultSchema = z
  .object({
    schema: z.literal(1),
    lab: z.string(),
    firewall: z.enum(['iptables', 'nftables']),
    proto: z.enum(['tcp', 'udp', 'icmp']),
    from: endpoint,
    to: endpoint.extend({ port: z.number().int().optional() }).strict(),
    probe: z.object({ sourcePort: z.number().int().optional(), echoId: z.number().int().optional(), outcome: z.string() }).strict(),
    forward: leg,
    reply: leg.optional(),
    end: z
      .object({
        kind: z.enum(['delivered', 'delivered-no-answer', 'refused', 'no-listener', 'dropped', 'no-route', 'lost']),
        namespace: z.string().optional(),
        detail: z.string(),
        rule: rule.optional(),
      })
      .strict(),
  })
  .strict();

const counter = { packets: z.number().int().nullable(), bytes: z.number().int().nullable(), rule: z.string().optional() };
const traffic = z.object({ packets: z.number().int(), bytes: z.number().int(), dropped: z.number().int(), errors: z.number().int() }).strict();

/** The shape of `netlab stats --json` (docs/trace.md), checked the same way. */
export const labStatsSchema = z
  .object({
    lab: z.string(),
    firewall: z.enum(['iptables', 'nftables']),
    interfaces: z.array(z.object({ container: z.string(), ifname: z.string(), rx: traffic, tx: traffic }).strict()),
    ports: z.array(z.object({ container: z.string(), port: z.string(), ...counter }).strict()),
    links: z.array(z.object({ from: z.string(), to: z.string(), port: z.string(), ...counter }).strict()),
  })
  .strict();
