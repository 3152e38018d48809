/**
 * The page's files: a fixed list, looked up by exact name, so no request path can reach any
 * other file (no joining of paths, no traversal to defend against).
 */
import { readFile } from 'node:fs/promises';

const FILES: Record<string, { url: URL; type: string }> = {
  '/': { url: new URL('../../assets/ui/index.html', import.meta.url), type: 'text/html; charset=utf-8' },
  '/style.css': { url: new URL('../../assets/ui/style.css', import.meta.url), type: 'text/css; charset=utf-8' },
  '/app.js': { url: new URL('./client/app.js', import.meta.url), type: 'text/javascript; charset=utf-8' },
};

export async function staticFile(path: string): Promise<{ type: string; body: Buffer } | undefined> {
  const f = Object.hasOwn(FILES, path) ? FILES[path] : undefined;
  if (!f) return undefined;
  return { type: f.type, body: await readFile(f.url) };
}
