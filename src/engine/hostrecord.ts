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
import { NetlabError } from '../errors.js';
import { log } from '../log.js';
import { writeProblem } from './state.js';

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

/** The record, or an empty one when there is none; a broken one (wrong shape, not JSON) is as good as none, with a warning. */
export async function readHostRecord(): Promise<HostRecord> {
  const file = await hostRecordFile();
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') log().warn(`cannot read ${file} (${(e as Error).message}): the host's sysctls netlab changed will not be put back`);
    return { version: 1, sysctls: {} };
  }
  try {
    const r = JSON.parse(text) as HostRecord;
    if (r?.version === 1 && r.sysctls && typeof r.sysctls === 'object' && Object.values(r.sysctls).every((v) => typeof v === 'string')) return r;
  } catch (e) {
    // Not JSON: reported below as any other text that is no host record.
    if (!(e instanceof SyntaxError)) throw e;
  }
  log().warn(`${file} is not a netlab host record: treated as empty (the host's sysctls netlab changed will not be put back)`);
  return { version: 1, sysctls: {} };
}

export async function writeHostRecord(r: HostRecord): Promise<void> {
  const file = await hostRecordFile();
  try {
    if (Object.keys(r.sysctls).length === 0) await rm(file, { recursive: true, force: true });
    else await writeAtomic(file, `${JSON.stringify(r, null, 2)}\n`, 0o600);
  } catch (e) {
    throw new NetlabError(`cannot write ${file}: ${writeProblem(e)}`);
  }
}
