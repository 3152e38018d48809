/**
 * An id of this build of some of netlab's own modules, for what netlab keeps between runs (the
 * topology cache, the stamps of /etc files): a new netlab, with other rules or renderers, never
 * trusts what an old one kept. Paths are relative to src/ (or dist/); from src/ (tests) the
 * TypeScript source stands for the built module.
 */
import { statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export function buildId(modules: string[]): string {
  return modules
    .map((m) => {
      try {
        const st = statSync(fileURLToPath(new URL(m, import.meta.url)), { throwIfNoEntry: false }) ?? statSync(fileURLToPath(new URL(m.replace(/\.js$/, '.ts'), import.meta.url)));
        return `${st.ino}:${st.size}:${st.mtimeMs}`;
      } catch {
        return '-';
      }
    })
    .join(',');
}
