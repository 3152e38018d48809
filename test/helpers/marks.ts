/** The processes that carry one of netlab's marks in their environment (NETLAB_LAB=, NETLAB_DNS=), as netlab itself finds them. */
import { readdirSync, readFileSync } from 'node:fs';
import { GONE, ifErrno } from '../../src/kernel/errno.js';

export interface MarkedProcess {
  pid: number;
  /** The mark's value: the lab's name. */
  value: string;
}

/** Every process whose environment has `key` (with `value`, when given). */
export function markedProcesses(key: 'NETLAB_LAB' | 'NETLAB_DNS' | 'NETLAB_PROXY6', value?: string): MarkedProcess[] {
  const out: MarkedProcess[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    const found = environOf(Number(pid))?.find((e) => e.startsWith(`${key}=`));
    const v = found?.slice(key.length + 1);
    if (v !== undefined && (value === undefined || v === value)) out.push({ pid: Number(pid), value: v });
  }
  return out;
}

/** A process's environment, one `KEY=value` an entry; undefined when it has exited meanwhile. */
function environOf(pid: number): string[] | undefined {
  try {
    return readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0');
  } catch (e) {
    return ifErrno(e, GONE, undefined);
  }
}
