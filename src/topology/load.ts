/**
 * netlab.yaml → Topology: parse, check the shape with zod, then the rules that span fields.
 * Every problem names its YAML path and line; all of them are reported at once.
 */
import { LineCounter, parseDocument, type Document } from 'yaml';
import { InputError, type InputProblem } from '../errors.js';
import { parseCidr, parseIp, contains, broadcast, formatCidr, type Cidr } from '../model/ipv4.js';
import { defaultBridgeName, LAB_NAME, OBJECT_NAME } from '../model/names.js';
import { parseExpose, parsePublish, portKey, PortSpecError, type PortBinding, type PortProto } from '../model/ports.js';
import { parseLink, type LinkSpec } from '../model/links.js';
import { networkSchema, topologySchema, type RawTopology } from './schema.js';
import { readTopologyText, type LoadOptions } from './source.js';

export { DEFAULT_FILE, DEMO_FILE, DEMO_SOURCE, resolveTopologyFile, type LoadOptions } from './source.js';
import { formatPath, lineOf, type PathSegment } from './yamlpos.js';
import { parseRuntime } from './runtime.js';
import type { ContainerDef, HostDef, NetworkDef, Topology } from './types.js';


/**
 * Limits that keep hostile or broken files from costing the host anything: a lab is at most
 * 1000 containers (what scripts/bench measures; each is a namespace, a veth pair and a process)
 * and 64 networks, a file at most 1 MiB, YAML nesting at most 32 deep, aliases at most 100.
 */
export const LIMITS = { containers: 1000, networks: 64, fileBytes: 1 << 20, depth: 32, aliases: 100 } as const;
export function loadTopology(opts: LoadOptions = {}): Topology {
  const { text, source, defaultName, dir } = readTopologyText(opts);
  return parseTopology(text, { source, defaultName, name: opts.name, dir });
}

export function parseTopology(text: string, ctx: { source: string; defaultName: string; name?: string; dir?: string }): Topology {
  if (Buffer.byteLength(text) > LIMITS.fileBytes) {
    throw new InputError([{ path: '', message: `the file is larger than ${LIMITS.fileBytes} bytes, netlab's limit for a topology` }], ctx.source);
  }
  const deep = nestingBeyond(text, LIMITS.depth);
  if (deep) throw new InputError([{ path: '', message: `YAML nested deeper than ${LIMITS.depth} levels`, line: deep }], ctx.source);
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new InputError(
      doc.errors.map((e) => ({ path: '', message: `YAML syntax: ${e.message.split('\n')[0]}`, line: lc.linePos(e.pos[0]).line })),
      ctx.source,
    );
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: LIMITS.aliases }) ?? {};
  } catch (e) {
    // The yaml package refuses alias bombs ("billion laughs") here.
    throw new InputError([{ path: '', message: `YAML: ${(e as Error).message}` }], ctx.source);
  }
  const counted = tooMany(data, doc, lc);
  if (counted) throw new InputError([counted], ctx.source);
  const parsed = topologySchema.safeParse(data);
  if (!parsed.success) {
    const problems: InputProblem[] = [];
    for (const issue of parsed.error.issues) {
      const path = issue.path as PathSegment[];
      if (issue.code === 'unrecognized_keys') {
        for (const key of issue.keys) {
          problems.push({ path: formatPath([...path, key]), message: `unknown key "${key}"`, line: lineOf(doc, lc, [...path, key], true) });
        }
      } else if (issue.code === 'invalid_key') {
        // A bad name used as a key (container, network, variable): say why, not just "invalid key".
        const inner = (issue as { issues?: { message: string }[] }).issues?.[0]?.message ?? 'is not a valid name';
        problems.push({ path: formatPath(path), message: `the name ${JSON.stringify(path.at(-1))} ${inner}`, line: lineOf(doc, lc, path, true) });
      } else {
        problems.push({ path: formatPath(path) || '(top level)', message: issue.message, line: lineOf(doc, lc, path) });
      }
    }
    throw new InputError(problems, ctx.source);
  }
  return validate(parsed.data, doc, lc, ctx);
}

function validate(raw: RawTopology, doc: Document, lc: LineCounter, ctx: { source: string; defaultName: string; name?: string; dir?: string }): Topology {
  const problems: InputProblem[] = [];
  const problem = (path: PathSegment[], message: string) => problems.push({ path: formatPath(path), message, line: lineOf(doc, lc, path) });

  const name = ctx.name ?? raw.name ?? ctx.defaultName;
  if (!LAB_NAME.test(name)) problem(['name'], `lab name "${name}" must be 1-16 characters: lower-case letters, digits, "_" or "-"`);

  const hosts: HostDef[] = [];
  const underlays = new Map<number, string>();
  for (const [hostName, h] of Object.entries(raw.hosts ?? {})) {
    const [addr, len] = h.underlay.split('/');
    const ip = parseIp(addr ?? '');
    const prefix = len === undefined ? 24 : /^\d{1,2}$/.test(len) ? Number(len) : NaN;
    if (ip === undefined || !(prefix >= 8 && prefix <= 30)) problem(['hosts', hostName, 'underlay'], `"${h.underlay}" is not an IPv4 address (optionally with a /8-/30 prefix)`);
    else if (underlays.has(ip)) problem(['hosts', hostName, 'underlay'], `${addr} is already the underlay of host "${underlays.get(ip)}"`);
    else {
      underlays.set(ip, hostName);
      hosts.push({ name: hostName, underlay: ip, prefix });
    }
  }

  const rawNetworks = raw.networks ?? { default: networkSchema.parse({}) };
  const networks: NetworkDef[] = [];
  const bridges = new Map<string, string>();
  for (const [netName, n] of Object.entries(rawNetworks)) {
    const at = (...p: PathSegment[]) => (raw.networks ? ['networks', netName, ...p] : []);
    const bridge = n.bridge ?? defaultBridgeName(name, netName);
    if (bridges.has(bridge)) problem(at('bridge'), `bridge "${bridge}" is already used by network "${bridges.get(bridge)}"`);
    bridges.set(bridge, netName);
    let subnet: Cidr | undefined;
    let gateway: number | undefined;
    if (n.subnet !== undefined) {
      subnet = parseCidr(n.subnet);
      if (!subnet) problem(at('subnet'), `"${n.subnet}" is not an IPv4 subnet in CIDR form with its host bits zero (e.g. 172.31.5.0/24)`);
      else if (subnet.prefix > 30 || subnet.prefix < 8) problem(at('subnet'), `prefix /${subnet.prefix} must be between /8 and /30`);
    }
    if (n.gateway !== undefined) {
      gateway = parseIp(n.gateway);
      if (gateway === undefined) problem(at('gateway'), `"${n.gateway}" is not an IPv4 address`);
      else if (!subnet) problem(at('gateway'), 'a gateway needs the network\'s subnet');
      else if (!usableIn(subnet, gateway)) problem(at('gateway'), `${n.gateway} is not a usable address of ${n.subnet}`);
    }
    if (n.bridge?.startsWith('nlv')) problem(at('bridge'), `"${n.bridge}": names starting with "nlv" are netlab's veth names`);
    if (n.vxlan || n.driver === 'ovs') {
      if (!raw.hosts) problem(at(n.vxlan ? 'vxlan' : 'driver'), 'an overlay joins hosts: the lab needs "hosts:"');
      if (n.vxlan && !n.subnet) problem(at('vxlan'), 'an overlay network needs a "subnet": every host must compute the same addresses');
      if (n.gateway !== undefined && raw.hosts) problem(at('gateway'), 'on a multi-host lab each host gets its own gateway (the first addresses of the subnet); remove "gateway"');
    }
    networks.push({
      name: netName,
      bridge,
      subnet,
      gateway,
      icc: n.icc,
      ipMasquerade: n.ipMasquerade,
      internal: n.internal,
      mtu: n.mtu ?? (n.vxlan ? 1450 : 1500),
      driver: n.driver,
      vxlan: n.vxlan,
      // The network made when the file declares none is Docker's default bridge: no embedded DNS.
      dns: raw.networks ? n.dns : false,
    });
  }
  const netByName = new Map(networks.map((n) => [n.name, n]));

  const containers: ContainerDef[] = [];
  const staticOwner = new Map<string, string>();
  const hostPorts = new Map<string, string>();
  const linkChecks: { ctr: string; link: LinkSpec; path: PathSegment[] }[] = [];
  for (const [ctrName, c] of Object.entries(raw.containers)) {
    const at = (...p: PathSegment[]) => ['containers', ctrName, ...p];
    let host = c.host;
    if (host !== undefined && !raw.hosts?.[host]) problem(at('host'), `unknown host "${host}"${raw.hosts ? ` (hosts: ${Object.keys(raw.hosts).join(', ')})` : ': the lab has no "hosts:"'}`);
    if (host === undefined && hosts.length > 0) host = hosts[0]!.name;
    const attached = c.networks === undefined || Array.isArray(c.networks) ? undefined : c.networks;
    let nets = attached ? Object.keys(attached) : (c.networks as string[] | undefined);
    const netPath = (i: number) => (attached ? at('networks', nets![i]!) : at('networks', i));
    if (!nets) {
      if (networks.length === 1) nets = [networks[0]!.name];
      else {
        problem(at(), 'say which networks it joins ("networks:"): the lab has more than one');
        nets = [];
      }
    }
    nets.forEach((n, i) => {
      if (!netByName.has(n)) problem(netPath(i), `unknown network "${n}"`);
      if (nets!.indexOf(n) !== i) problem(netPath(i), `network "${n}" is listed twice`);
    });
    if (attached && nets.length === 0) problem(at('networks'), 'must name at least one network');
    const aliases: Record<string, string[]> = {};
    for (const [netName, a] of Object.entries(attached ?? {})) {
      if (a.aliases.length === 0) continue;
      // Docker: "network-scoped alias is supported only for containers in user defined networks".
      if (netByName.get(netName)?.dns === false) problem(at('networks', netName, 'aliases'), `network "${netName}" has no embedded DNS (the default bridge, or "dns: false"): aliases need a user-defined network`);
      aliases[netName] = a.aliases;
    }
    (c.dns ?? []).forEach((server, i) => {
      if (parseIp(server) === undefined) problem(at('dns', i), `"${server}" is not an IPv4 address`);
    });

    const staticIps: Record<string, number> = {};
    const ipEntries: [string, string, PathSegment[]][] =
      c.ip === undefined ? [] : typeof c.ip === 'string' ? [[nets[0] ?? '', c.ip, at('ip')]] : Object.entries(c.ip).map(([k, v]) => [k, v, at('ip', k)]);
    for (const [netName, ipText, path] of ipEntries) {
      const net = netByName.get(netName);
      const ip = parseIp(ipText);
      if (!nets.includes(netName) || !net) problem(path, `the container is not on network "${netName}"`);
      else if (ip === undefined) problem(path, `"${ipText}" is not an IPv4 address`);
      else if (!net.subnet) problem(path, `a static address needs network "${netName}" to have a subnet`);
      else if (!usableIn(net.subnet, ip)) problem(path, `${ipText} is not a usable address of ${netName}'s subnet`);
      else if (hosts.length === 0 ? ip === (net.gateway ?? net.subnet.network + 1) : ip > net.subnet.network && ip <= net.subnet.network + hosts.length)
        problem(path, `${ipText} is ${hosts.length ? 'a host\'s gateway' : 'the gateway'} of ${netName}`);
      else if (staticOwner.has(`${netName}/${ip}`)) problem(path, `${ipText} is already given to container "${staticOwner.get(`${netName}/${ip}`)}"`);
      else {
        staticOwner.set(`${netName}/${ip}`, ctrName);
        staticIps[netName] = ip;
      }
    }

    const expose: PortProto[] = [];
    c.expose.forEach((spec, i) => {
      try {
        expose.push(...parseExpose(spec));
      } catch (e) {
        if (!(e instanceof PortSpecError)) throw e;
        problem(at('expose', i), e.message);
      }
    });
    const publish: PortBinding[] = [];
    c.publish.forEach((spec, i) => {
      try {
        for (const b of parsePublish(spec)) {
          publish.push(b);
          if (b.hostPort) {
            const key = `${b.hostIp}:${b.hostPort}/${b.proto}`;
            const clash = hostPorts.get(`${host ?? ''}|${b.hostPort}/${b.proto}`);
            if (clash && (clash.startsWith('0.0.0.0') || b.hostIp === '0.0.0.0' || clash.startsWith(b.hostIp + ':')))
              problem(at('publish', i), `host port ${b.hostPort}/${b.proto} is already published by ${clash.split(' ')[1]}`);
            hostPorts.set(`${host ?? ''}|${b.hostPort}/${b.proto}`, `${key} ${ctrName}`); // ports clash only on the same host
          }
        }
      } catch (e) {
        if (!(e instanceof PortSpecError)) throw e;
        problem(at('publish', i), e.message);
      }
    });
    // Docker's CLI adds published ports to the exposed ones.
    const exposed = new Map(expose.map((p) => [portKey(p), p]));
    for (const b of publish) exposed.set(`${b.containerPort}/${b.proto}`, { port: b.containerPort, proto: b.proto });

    const links: LinkSpec[] = [];
    c.links.forEach((spec, i) => {
      try {
        const l = parseLink(spec);
        if (!OBJECT_NAME.test(l.alias)) problem(at('links', i), `alias "${l.alias}" is not a valid name`);
        else {
          links.push(l);
          linkChecks.push({ ctr: ctrName, link: l, path: at('links', i) });
        }
      } catch (e) {
        problem(at('links', i), (e as Error).message);
      }
    });

    containers.push({
      name: ctrName,
      host,
      hostname: c.hostname ?? ctrName,
      networks: nets,
      staticIps,
      expose: [...exposed.values()],
      publish,
      publishAll: c.publishAll,
      links,
      env: c.env,
      command: c.command,
      runtime: parseRuntime(c, at, problem, (p) => ({ path: formatPath(p), line: lineOf(doc, lc, p) }), ctx.dir ?? process.cwd()),
      aliases,
      ...(c.dns ? { dns: c.dns } : {}),
      ...(c.dnsSearch ? { dnsSearch: c.dnsSearch } : {}),
      ...(c.dnsOptions ? { dnsOptions: c.dnsOptions } : {}),
    });
  }

  // A network with a given subnet must have an address for each member (besides network, broadcast, gateway).
  for (const net of networks) {
    if (!net.subnet) continue;
    const members = containers.filter((c) => c.networks.includes(net.name)).length;
    const usable = 2 ** (32 - net.subnet.prefix) - 3;
    if (members > usable)
      problem(raw.networks ? ['networks', net.name, 'subnet'] : [], `${members} containers do not fit: ${formatCidr(net.subnet)} has ${usable} addresses besides its gateway`);
  }

  // Links need their target to exist and share a network; a link to itself or a cycle is refused.
  const byName = new Map(containers.map((c) => [c.name, c]));
  for (const { ctr, link, path } of linkChecks) {
    const target = byName.get(link.target);
    if (link.target === ctr) problem(path, 'a container cannot link to itself');
    else if (!target) problem(path, `links to "${link.target}", which is not a container of this lab`);
    else if (!target.networks.some((n) => byName.get(ctr)!.networks.includes(n)))
      problem(path, `links to "${link.target}", which shares no network with "${ctr}"`);
  }
  const cycle = findLinkCycle(containers);
  if (cycle) problem(['containers', cycle[0]!, 'links'], `links form a cycle: ${cycle.join(' -> ')}`);

  if (problems.length > 0) throw new InputError(problems, ctx.source);
  return { name, source: ctx.source, firewall: raw.firewall, hosts, networks, containers };
}

/** The line where flow or block nesting first goes deeper than `max`, outside quoted text and comments. */
function nestingBeyond(text: string, max: number): number | undefined {
  let line = 1;
  let flow = 0;
  let quote: string | undefined;
  let comment = false;
  let lineStart = true;
  let indent = 0;
  for (const ch of text) {
    if (ch === '\n') {
      line++;
      comment = false;
      lineStart = true;
      indent = 0;
      if (quote === "'") quote = undefined;
      continue;
    }
    if (lineStart) {
      if (ch === ' ' || ch === '-') {
        // Block nesting: at most four columns of indentation (or "- ") per level.
        if (++indent > 4 * max) return line;
        continue;
      }
      lineStart = false;
    }
    if (comment) continue;
    if (quote) {
      if (ch === quote) quote = undefined;
      continue;
    }
    if (ch === '"' || ch === "'") quote = ch;
    else if (ch === '#') comment = true;
    else if (ch === '[' || ch === '{') {
      if (++flow > max) return line;
    } else if (ch === ']' || ch === '}') flow = Math.max(0, flow - 1);
  }
  return undefined;
}

/** Refuses a lab beyond netlab's size limits before any per-container work. */
function tooMany(data: unknown, doc: Document, lc: LineCounter): InputProblem | undefined {
  if (typeof data !== 'object' || data === null) return undefined;
  const d = data as { containers?: unknown; networks?: unknown };
  for (const [key, limit] of [
    ['containers', LIMITS.containers],
    ['networks', LIMITS.networks],
  ] as const) {
    const v = d[key];
    const n = typeof v === 'object' && v !== null ? Object.keys(v).length : 0;
    if (n > limit) return { path: key, message: `${n} ${key} exceed netlab's limit of ${limit} per lab`, line: lineOf(doc, lc, [key], true) };
  }
  return undefined;
}

function usableIn(subnet: Cidr, ip: number): boolean {
  return contains(subnet, ip) && ip !== subnet.network && ip !== broadcast(subnet);
}

function findLinkCycle(containers: ContainerDef[]): string[] | undefined {
  const edges = new Map(containers.map((c) => [c.name, c.links.map((l) => l.target).filter((t) => t !== c.name)]));
  const state = new Map<string, 'visiting' | 'done'>();
  const stack: string[] = [];
  const visit = (n: string): string[] | undefined => {
    if (state.get(n) === 'done') return undefined;
    if (state.get(n) === 'visiting') return [...stack.slice(stack.indexOf(n)), n];
    state.set(n, 'visiting');
    stack.push(n);
    for (const m of edges.get(n) ?? []) {
      const c = visit(m);
      if (c) return c;
    }
    stack.pop();
    state.set(n, 'done');
    return undefined;
  };
  for (const c of containers) {
    const found = visit(c.name);
    if (found) return found;
  }
  return undefined;
}

