import { NetlabError } from '../errors.js';

/** netlab edits the host's network: everything but reading a file needs root. */
export function requireRoot(verb: string): void {
  if (process.getuid?.() !== 0) {
    throw new NetlabError(`netlab ${verb} changes or reads the host's network namespaces and must run as root: try "sudo netlab ${verb}".`);
  }
}
