/**
 * A container's fstab (model/mounts.ts) read back as mount(2) calls: each line's options split
 * into the flags mount(8) turns into MS_* bits and the file system's own data, as `mount --all`
 * does, so the netlink backend can make the mounts in-process (mntns.ts).
 */

/** The MS_* bits of mount(8)'s generic options (linux/mount.h); `clear` options remove theirs. */
const FLAGS: Record<string, number> = {
  ro: 1,
  nosuid: 2,
  nodev: 4,
  noexec: 8,
  sync: 16,
  dirsync: 128,
  noatime: 1024,
  nodiratime: 2048,
  relatime: 1 << 21,
  strictatime: 1 << 24,
  lazytime: 1 << 25,
};
const CLEAR: Record<string, number> = {
  rw: 1,
  suid: 2,
  dev: 4,
  exec: 8,
  async: 16,
  atime: 1024,
  diratime: 2048,
  norelatime: 1 << 21,
  nostrictatime: 1 << 24,
  nolazytime: 1 << 25,
};
/** Options of mount(8) itself that mean nothing to the kernel. */
const IGNORED = new Set(['defaults', 'auto', 'noauto', 'nofail', 'user', 'nouser', 'users', 'owner', 'group', '_netdev']);

export interface FstabMount {
  source: string;
  target: string;
  fstype: string;
  flags: number;
  /** The file system's own options (tmpfs `mode=`, `size=`), comma-joined; empty when none. */
  data: string;
  bind: boolean;
  /** X-mount.mkdir: the mount point is made first. */
  mkdir: boolean;
  /** X-netlab.etc: an /etc file bound over the host's, after every other mount. */
  etc: boolean;
}

/** fstab's octal escapes (`\040` for a space). */
const fromOctal = (field: string) => field.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(Number.parseInt(oct, 8)));

/** Splits an option list into MS_* flags and data, as mount(8) does. */
export function mountOptions(options: string): { flags: number; data: string; bind: boolean; mkdir: boolean; etc: boolean } {
  let flags = 0;
  const data: string[] = [];
  const words = options.split(',').filter(Boolean);
  for (const w of words) {
    if (Object.hasOwn(FLAGS, w)) flags |= FLAGS[w]!;
    else if (Object.hasOwn(CLEAR, w)) flags &= ~CLEAR[w]!;
    else if (!IGNORED.has(w) && !/^[xX]-/.test(w) && w !== 'bind') data.push(w);
  }
  return { flags, data: data.join(','), bind: words.includes('bind'), mkdir: words.includes('X-mount.mkdir'), etc: words.includes('X-netlab.etc') };
}

/** The lines of an fstab, in order (comments and blank lines left out). */
export function parseFstab(text: string): FstabMount[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((line) => {
      const [source = '', target = '', fstype = 'none', options = 'defaults'] = line.split(/\s+/).map(fromOctal);
      return { source, target, fstype, ...mountOptions(options) };
    });
}
