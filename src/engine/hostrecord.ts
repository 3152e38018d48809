/**
 * What netlab changed on the host outside its labs' own objects: the original value of each
 * host-wide sysctl (ip_forward) the first lab had to change. When the last lab of this host goes
 * down, `down` puts them back. A sysctl that already had the value netlab needs is never
 * recorded, so it is never touched. One record per network namespace netlab runs in.
 */
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { RUN_DIR } from '../paths.js';
import { hostNetnsId, writeAtomic } from '../kernel/host.js';

export interface HostRecord {
  version: 1;
  /** sysctl key → the value it had before netlab changed it. */
  sysctls: Record<string, string>;
}

/** Per-device sysctls (net.ipv4.conf.<bridge>.*) vanish with netlab's own devices: no need to restore them. */
export function isHostWideSysctl(key: string): boolean {
  return !/^net\.ipv[46]\.conf\./.test(key) || /^net\.ipv[46]\.conf\.(all|default)\./.test(key);
}

export async function hostRecordFile(): Promise<string> {
  return join(RUN_DIR, `.host-${await hostNetnsId()}.json`);
}

export async function readHostRecord(): Promise<HostRecord> {
  try {
    const r = JSON.parse(await readFile(await hostRecordFile(), 'utf8')) as HostRecord;
    if (r.version === 1) return r;
  } catch {
    /* none yet */
  }
  return { version: 1, sysctls: {} };
}

export async function writeHostRecord(r: HostRecord): Promise<void> {
  const file = await hostRecordFile();
  if (Object.keys(r.sysctls).length === 0) await rm(file, { force: true });
  else await writeAtomic(file, JSON.stringify(r, null, 2) + '\n', 0o600);
}
