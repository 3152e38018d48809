/** Read-only views of a running lab: ps, inspect, logs. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { NetlabError, InputError } from '../errors.js';
import type { Lab, LabContainer } from '../model/lab.js';
import { portKey } from '../model/ports.js';
import { exposeRuns, formatExposeRun, formatRun, portRuns } from '../model/port-runs.js';
import { NETNS_DIR, labDir, logPath } from '../paths.js';
import { readText } from '../kernel/host.js';
import { pidsByNamespace } from '../kernel/processes.js';
import { shareReads, type StateFile } from './state.js';

export type ContainerStatus = 'running' | 'exited' | 'up' | 'missing';

export interface ContainerRow {
  name: string;
  /** Host that runs it, in a multi-host lab. */
  host?: string;
  status: ContainerStatus;
  pid?: number;
  ip: string;
  ports: string[];
  links: string[];
  netns: string;
}

/** Every share of the lab on this machine (one, or one per simulated host). */
export async function requireShares(lab: string): Promise<StateFile[]> {
  const reads = await shareReads(lab);
  const broken = reads.find((r) => r.problem);
  if (broken) throw new NetlabError(`the state of lab "${lab}" in ${broken.path} is unusable: ${broken.problem}. "netlab up" rebuilds it from the lab's marks in the kernel; "netlab down" removes the lab`);
  if (reads.length === 0) throw new NetlabError(`lab "${lab}" is not up (no state in ${labDir(lab)}); run "netlab up" first`);
  return reads.map((r) => r.state!);
}

/** The share that runs `name`, with the lab as that share resolved it. */
export async function requireContainer(lab: string, name: string): Promise<{ share: StateFile; container: LabContainer }> {
  const shares = await requireShares(lab);
  const share = shares.find((s) => s.resolved.containers.some((c) => c.name === name && (!s.host || c.host === s.host))) ?? shares[0]!;
  return { share, container: findContainer(share.resolved, name) };
}

/** The containers a share runs. */
const localTo = (s: StateFile) => s.resolved.containers.filter((c) => !s.host || c.host === s.host);

export function findContainer(lab: Lab, name: string): LabContainer {
  const c = lab.containers.find((x) => x.name === name);
  if (!c) throw new InputError([{ path: 'container', message: `lab "${lab.name}" has no container "${name}" (it has: ${lab.containers.map((x) => x.name).join(', ') || 'none'})` }]);
  return c;
}

export async function statuses(s: StateFile): Promise<Map<string, { status: ContainerStatus; pid?: number }>> {
  const { inside: pids } = await pidsByNamespace(localTo(s).map((c) => c.netns));
  const out = new Map<string, { status: ContainerStatus; pid?: number }>();
  for (const c of localTo(s)) {
    const rec = s.started[c.name];
    if (!existsSync(join(NETNS_DIR, c.netns))) out.set(c.name, { status: 'missing' });
    else if (c.command === undefined) out.set(c.name, { status: 'up' });
    else if (rec && pids.get(c.netns)?.includes(rec.pid)) out.set(c.name, { status: 'running', pid: rec.pid });
    else out.set(c.name, { status: 'exited' });
  }
  return out;
}

export async function ps(lab: string): Promise<ContainerRow[]> {
  const rows: ContainerRow[] = [];
  for (const s of await requireShares(lab)) rows.push(...(await shareRows(s)));
  return rows;
}

/** The rows of one share, from its state as a run just left it (what `ps` would read back). */
export async function shareRows(s: StateFile): Promise<ContainerRow[]> {
  const st = await statuses(s);
  return localTo(s).map((c) => {
    const published = new Set(c.ports.map((p) => `${p.containerPort}/${p.proto}`));
    return {
      name: c.name,
      ...(c.host ? { host: c.host } : {}),
      status: st.get(c.name)!.status,
      pid: st.get(c.name)!.pid,
      ip: c.interfaces.map((i) => i.ip).join(','),
      ports: [...portRuns(c.ports).map(formatRun), ...exposeRuns(c.expose.filter((p) => !published.has(portKey(p)))).map(formatExposeRun)],
      links: c.links.map((l) => (l.alias === l.target ? l.target : `${l.target}:${l.alias}`)),
      netns: c.netns,
    };
  });
}

/** Docker's `docker inspect` shape, with NetworkSettings as the classic bridge driver fills it. */
export async function inspect(lab: string, name: string): Promise<Record<string, unknown>> {
  const { share: s, container: c } = await requireContainer(lab, name);
  const st = (await statuses(s)).get(name) ?? { status: 'missing' as const };
  const primary = c.interfaces[0];
  const ports: Record<string, { HostIp: string; HostPort: string }[] | null> = {};
  for (const p of c.expose) ports[portKey(p)] = null;
  for (const p of c.ports) (ports[`${p.containerPort}/${p.proto}`] ??= []).push({ HostIp: p.hostIp, HostPort: String(p.hostPort) });
  const bindings: Record<string, { HostIp: string; HostPort: string }[]> = {};
  for (const p of c.ports) (bindings[`${p.containerPort}/${p.proto}`] ??= []).push({ HostIp: p.hostIp === '0.0.0.0' ? '' : p.hostIp, HostPort: String(p.hostPort) });
  return {
    Name: `/${c.name}`,
    Lab: s.lab,
    ...(c.host ? { Host: c.host } : {}),
    State: { Status: st.status, Running: st.status === 'running', Pid: st.pid ?? 0 },
    Config: {
      Hostname: c.hostname,
      Env: [`HOSTNAME=${c.hostname}`, ...c.env.map(([k, v]) => `${k}=${v}`)],
      Cmd: c.command === undefined ? null : typeof c.command === 'string' ? ['/bin/sh', '-c', c.command] : c.command,
      ExposedPorts: Object.fromEntries(c.expose.map((p) => [portKey(p), {}])),
    },
    HostConfig: {
      Links: c.links.length ? c.links.map((l) => `/${l.target}:/${c.name}/${l.alias}`) : null,
      PortBindings: bindings,
    },
    NetworkSettings: {
      SandboxKey: join(NETNS_DIR, c.netns),
      IPAddress: primary?.ip ?? '',
      IPPrefixLen: primary?.prefix ?? 0,
      Gateway: primary?.gateway ?? '',
      MacAddress: primary?.mac ?? '',
      Ports: ports,
      Networks: Object.fromEntries(
        c.interfaces.map((i) => [
          i.network,
          {
            Links: i === primary && c.links.length ? c.links.map((l) => `${l.target}:${l.alias}`) : null,
            IPAddress: i.ip,
            IPPrefixLen: i.prefix,
            Gateway: i.gateway,
            MacAddress: i.mac,
            InterfaceName: i.ifname,
            HostVeth: i.hostVeth,
            Bridge: i.bridge,
            MTU: i.mtu,
          },
        ]),
      ),
    },
  };
}

export async function logs(lab: string, name: string): Promise<string> {
  const { container: c } = await requireContainer(lab, name);
  if (c.command === undefined) return '';
  return (await readText(logPath(lab, name))) ?? '';
}
