/**
 * Fewer rtnetlink requests for the same kernel state: the plan says one thing per Op (so that
 * `explain` prints one readable `ip` command each), the netlink executor sends what the kernel
 * accepts in one message. A fresh veth pair is created enslaved, up and with its container end's
 * MAC address, as Docker's libnetwork does; consecutive `link.set`s of one link become one.
 * Pure: the differential test holds the result equal to what `ip` builds Op by Op.
 */
import type { LinkOp } from '../plan/ops.js';

type VethAdd = Extract<LinkOp, { kind: 'veth.add' }>;
type LinkSet = Extract<LinkOp, { kind: 'link.set' }>;

/** A veth pair created with more of its settings than `ip link add` is given in the plan. */
export interface VethCreate extends VethAdd {
  master?: string;
  up?: boolean;
  peerMac?: string;
}

export interface LinkRequest {
  op: Exclude<LinkOp, VethAdd> | VethCreate;
  /** The Ops this request carries out, in plan order (for messages). */
  from: LinkOp[];
}

const key = (ns: string | undefined, name: string) => `${ns ?? ''}/${name}`;

/** Creation Ops and the link they make (in the host namespace). */
function created(op: LinkOp): string | undefined {
  return op.kind === 'bridge.add' || op.kind === 'veth.add' || op.kind === 'vxlan.add' ? op.name : undefined;
}

/** The links an Op reads or changes, as `ns/name` keys. */
function touches(op: LinkOp): string[] {
  switch (op.kind) {
    case 'netns.add':
    case 'netns.del':
      return [];
    case 'veth.add':
      return [key(undefined, op.name), key(op.peer.ns, op.peer.name)];
    case 'bridge.add':
    case 'vxlan.add':
      return [key(undefined, op.name)];
    case 'link.set':
      return [key(op.ns, op.name), ...(op.master ? [key(undefined, op.master)] : [])];
    case 'link.del':
      return [key(op.ns, op.name)];
    case 'addr.add':
    case 'addr.del':
      return [key(op.ns, op.dev)];
    case 'fdb.append':
    case 'fdb.del':
      return [key(undefined, op.dev)];
    case 'route.replace':
    case 'route.del':
      return [key(op.ns, op.route.slice(op.route.lastIndexOf(' dev ') + 5))];
    case 'netns.sysctl': {
      const dev = /^net\.ipv[46]\.conf\.([^.]+)\./.exec(op.key)?.[1];
      return dev === undefined ? [] : [key(op.ns, dev)];
    }
  }
}

/**
 * Whether two link.sets of one link can be one request. The kernel applies a bridge port's
 * settings (hairpin) before a new master, so those two stay apart; and a field set twice keeps
 * its order by staying two requests.
 */
function mergeable(a: LinkSet, b: LinkSet): boolean {
  if (a.name !== b.name || a.ns !== b.ns) return false;
  if ((a.master !== undefined && b.hairpin !== undefined) || (a.hairpin !== undefined && b.master !== undefined)) return false;
  return (['alias', 'mtu', 'mac', 'master', 'up', 'hairpin'] as const).every((f) => a[f] === undefined || b[f] === undefined);
}

export function coalesceLinkOps(ops: LinkOp[]): LinkRequest[] {
  const firstCreation = new Map<string, number>();
  const touching = new Map<string, number[]>();
  ops.forEach((op, i) => {
    const name = created(op);
    if (name !== undefined && !firstCreation.has(name)) firstCreation.set(name, i);
    for (const k of touches(op)) {
      const list = touching.get(k);
      if (list) list.push(i);
      else touching.set(k, [i]);
    }
  });
  const folded = new Set<number>();
  const out: LinkRequest[] = [];
  for (let i = 0; i < ops.length; i++) {
    if (folded.has(i)) continue;
    const op = ops[i]!;
    if (op.kind === 'veth.add') {
      out.push(...createVeth(ops, i, { firstCreation, touching }, folded));
      continue;
    }
    const last = out.at(-1);
    if (op.kind === 'link.set' && last?.op.kind === 'link.set' && mergeable(last.op, op)) {
      last.op = { ...last.op, ...definedFields(op) };
      last.from.push(op);
      continue;
    }
    out.push({ op, from: [op] });
  }
  return out;
}

const definedFields = (op: LinkSet) => Object.fromEntries(Object.entries(op).filter(([, v]) => v !== undefined)) as LinkSet;

/**
 * The veth.add at `i`, with the master and up of the link.sets right after it (when the master
 * exists by then) and the container end's MAC (when setting it is the first thing done to that
 * end). What is left of those link.sets follows as one request. `folded` gets the Ops taken.
 */
function createVeth(ops: LinkOp[], i: number, index: { firstCreation: Map<string, number>; touching: Map<string, number[]> }, folded: Set<number>): LinkRequest[] {
  const { firstCreation, touching } = index;
  const add = ops[i] as VethAdd;
  const create: VethCreate = { ...add };
  const from: LinkOp[] = [add];
  let rest: LinkSet | undefined;
  const restFrom: LinkOp[] = [];
  for (let j = i + 1; j < ops.length; j++) {
    const next = ops[j]!;
    if (next.kind !== 'link.set' || next.ns !== undefined || next.name !== add.name) break;
    const { master, up, ...others } = next;
    if (master !== undefined && (create.master !== undefined || (firstCreation.get(master) ?? -1) > i)) break; // made later in this batch
    const left = definedFields((up === false ? { ...others, up } : others) as LinkSet);
    const hasLeft = Object.keys(left).length > 2; // more than kind and name
    if (hasLeft && rest && !mergeable(rest, left)) break;
    if (master !== undefined) create.master = master;
    if (up) create.up = true;
    if (master !== undefined || up) from.push(next);
    if (hasLeft) {
      rest = rest ? { ...rest, ...left } : left;
      restFrom.push(next);
    }
    folded.add(j);
  }
  // The first Op after this one on the container end (the plan orders a namespace's Ops after the host's).
  const j = touching.get(key(add.peer.ns, add.peer.name))?.find((t) => t > i && !folded.has(t));
  const next = j === undefined ? undefined : ops[j]!;
  if (next?.kind === 'link.set' && next.mac !== undefined && Object.entries(next).every(([f, v]) => v === undefined || ['kind', 'ns', 'name', 'mac'].includes(f))) {
    create.peerMac = next.mac;
    from.push(next);
    folded.add(j!);
  }
  return rest
    ? [
        { op: create, from },
        { op: rest, from: restFrom },
      ]
    : [{ op: create, from }];
}
