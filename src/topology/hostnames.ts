/**
 * Names that /etc/hosts gives to two containers: each container's name and host name go into
 * every peer's file, where the first line with a name wins (and case does not count), so a
 * `hostname:` equal to another container's name would send that name to the wrong container.
 */
import type { PathSegment } from './yamlpos.js';
import type { ContainerDef } from './types.js';

export interface NameClash {
  path: PathSegment[];
  message: string;
}

/** Every name two containers would share, blamed on a `hostname:` the file gives where there is one. */
export function nameClashes(containers: ContainerDef[], place: (path: PathSegment[]) => string): NameClash[] {
  type Owner = { ctr: string; name: string; path: PathSegment[]; what: 'the name' | 'the host name' };
  const owners = new Map<string, Owner>();
  const out: NameClash[] = [];
  for (const c of containers) {
    const names: Omit<Owner, 'ctr'>[] = [{ name: c.name, path: ['containers', c.name], what: 'the name' }];
    if (c.hostname.toLowerCase() !== c.name.toLowerCase()) names.push({ name: c.hostname, path: ['containers', c.name, 'hostname'], what: 'the host name' });
    for (const n of names) {
      const key = n.name.toLowerCase();
      const first = owners.get(key);
      if (!first) {
        owners.set(key, { ctr: c.name, ...n });
        continue;
      }
      // Blame a host name (only a given one differs from its container's name): it can change without renaming a container.
      const mine = { ctr: c.name, ...n };
      const [blamed, other] = n.what === 'the name' && first.what === 'the host name' ? [first, mine] : [mine, first];
      out.push({
        path: blamed.path,
        message: `"${blamed.name}" is also ${other.what} of container "${other.ctr}" (${place(other.path)}): in /etc/hosts the name would reach only one of the two`,
      });
    }
  }
  return out;
}
