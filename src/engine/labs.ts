/** `netlab ls`: every lab of this host, from the state files under /run/netlab (docker compose ls). */
import { readdir } from 'node:fs/promises';
import { subnetsText } from '../model/lab6.js';
import { formatBinding } from '../model/ports.js';
import { LAB_NAME } from '../model/names.js';
import { RUN_DIR } from '../paths.js';
import { readShares } from './state.js';
import { statuses } from './query.js';
import { ABSENT, onErrno } from '../kernel/errno.js';

export interface LabSummary {
  name: string;
  /** The topology file it was brought up from, or `<demo>`. */
  file: string;
  /** Containers whose command runs, or that have none (their namespaces are up). */
  running: number;
  total: number;
  networks: { name: string; bridge: string; subnet: string }[];
  ports: string[];
}

export async function listLabs(): Promise<LabSummary[]> {
  const names = (await readdir(RUN_DIR).catch(onErrno(ABSENT, [] as string[]))).filter((n) => !n.startsWith('.') && LAB_NAME.test(n)).sort();
  const out: LabSummary[] = [];
  for (const name of names) {
    const shares = await readShares(name, { hosts: false });
    if (shares.length === 0) continue;
    let running = 0;
    let total = 0;
    const ports: string[] = [];
    for (const s of shares) {
      const st = await statuses(s);
      for (const [c, v] of st) {
        total++;
        if (v.status === 'running' || v.status === 'up') running++;
        const ctr = s.resolved.containers.find((x) => x.name === c);
        ports.push(...(ctr?.ports.map((p) => `${formatBinding(p)} (${c})`) ?? []));
      }
    }
    const lab = shares[0]!.resolved;
    out.push({ name, file: shares[0]!.source, running, total, networks: lab.networks.map((n) => ({ name: n.name, bridge: n.bridge, subnet: subnetsText(n) })), ports });
  }
  return out;
}
