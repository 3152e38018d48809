/** What a lab's traces left in the kernel and in netlab's records, for the trace tests' leak checks. */
import { execa } from 'execa';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** A file of /proc, or '' once the process is gone. */
const procFile = (pid: string, file: string) => {
  try {
    return readFileSync(`/proc/${pid}/${file}`, 'utf8');
  } catch {
    return '';
  }
};

function recordLab(file: string): string | undefined {
  try {
    return (JSON.parse(readFileSync(join('/run/netlab/.traces', file), 'utf8')) as { lab?: string }).lab;
  } catch {
    return undefined;
  }
}

/**
 * What of lab's traces is left: tables in the host and the lab's namespaces, outside namespaces,
 * monitor processes (by their mark), records. Other labs' traces, running meanwhile, are not counted.
 */
export async function traceLeftovers(lab: string, namespaces: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const ns of [undefined, ...namespaces]) {
    const r = await execa(ns ? 'ip' : 'nft', ns ? ['netns', 'exec', ns, 'nft', 'list', 'tables'] : ['list', 'tables'], { reject: false });
    for (const l of r.stdout.split('\n')) if (l.includes(`nltrace-${lab}-`)) out.push(`${ns ?? 'host'}: ${l}`);
  }
  for (const n of readdirSync('/run/netns')) if (n.startsWith(`nltrace-${lab}-`)) out.push(`netns ${n}`);
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    if (
      procFile(pid, 'environ')
        .split('\0')
        .some((v) => v.startsWith(`NETLAB_TRACE=nltrace-${lab}-`))
    )
      out.push(`monitor process ${pid}`);
  }
  const records = existsSync('/run/netlab/.traces') ? readdirSync('/run/netlab/.traces') : [];
  for (const f of records) if (recordLab(f) === lab) out.push(`record ${f}`);
  return out;
}
