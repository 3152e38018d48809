/**
 * A container's mount namespace as text (pure): the fstab of its mounts and the script that
 * makes them inside a new namespace, which `up` runs and `explain` prints. One `mount --all`
 * makes every tmpfs and volume (a process each would cost a large lab seconds).
 */
import { DEFAULT_TMPFS, type ContainerRuntime } from '../topology/runtime.js';

const q = (w: string) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(w) ? w : `'${w.replaceAll("'", `'\\''`)}'`);
/** fstab escapes a space or a tab in a path as octal. */
const fs = (p: string) => p.replaceAll(' ', '\\040').replaceAll('\t', '\\011');
const depth = (p: string) => p.split('/').filter(Boolean).length;
const ETC_FILES = ['hosts', 'resolv.conf', 'hostname'];

/**
 * The container's fstab, parents first: its sysfs (of its network namespace, as `ip netns exec`
 * mounts one), a private /run (with Debian's /run/lock), /tmp, /var/tmp, its own tmpfs, and its
 * volumes, bound from the file descriptors the script opens (10, 11, ...). The sources are
 * netlab's own names, so that `mount --all` never takes a mount of the host for one of them.
 */
export function containerFstab(etcDir: string, runtime: ContainerRuntime | undefined): string {
  const tmpfs = [...DEFAULT_TMPFS, { target: '/run/lock', options: 'mode=1777,nosuid,nodev,noexec,size=5m' }, ...(runtime?.tmpfs ?? [])].map((t) => ({
    target: t.target,
    line: `netlab-tmpfs ${fs(t.target)} tmpfs X-mount.mkdir,${t.options} 0 0`,
  }));
  const all = (runtime?.volumes ?? []).map((v, i) => ({ v, i }));
  const volumes = all.filter(({ v }) => !v.file).map(({ v, i }) => ({ target: v.target, line: `/proc/self/fd/${10 + i} ${fs(v.target)} none bind,X-mount.mkdir${v.readOnly ? ',ro' : ''} 0 0` }));
  const mounts = [...tmpfs, ...volumes].map((m, i) => ({ ...m, i, depth: depth(m.target) })).sort((a, b) => a.depth - b.depth || a.i - b.i);
  // Files last, in a second pass (X-netlab.etc): a file's mount point, or a symlink's target, may have to be made in a new tmpfs first.
  const files = all.filter(({ v }) => v.file).map(({ v, i }) => `/proc/self/fd/${10 + i} ${fs(v.target)} none bind,X-netlab.etc${v.readOnly ? ',ro' : ''} 0 0`);
  const etc = ETC_FILES.map((f) => `${fs(`${etcDir}/${f}`)} /etc/${f} none bind,X-netlab.etc 0 0`);
  return `${['netlab-sysfs /sys sysfs ro,nosuid,nodev,noexec 0 0', ...mounts.map((m) => m.line), ...files, ...etc].join('\n')}\n`;
}

/**
 * The script, run by bash in the container's new mount and network namespaces:
 * - opens the fstab and each volume's host path first: a tmpfs may hide them (a folder under /tmp);
 * - drops the copies of namespace files (/run/netns, the labs' mount namespaces; all of /run
 *   where it is a mount) that the new namespace inherited, which would otherwise keep those
 *   namespaces (and their network namespaces, through their sysfs) alive;
 * - mounts the fstab, whose last lines bind its /etc/hosts, resolv.conf and hostname over the
 *   host's (as Docker binds its copies), in one `mount` that replaces bash (`exec`): with the
 *   unshare before it and its umount, three processes per container. Only where an /etc file is
 *   a symlink or missing, the /etc lines wait for a second pass: a symlink's target may have to
 *   be made in the new /run first.
 */
export function mountScript(fstabPath: string, runtime: ContainerRuntime | undefined): string[] {
  const lines = [`exec 9< ${q(fstabPath)}`, ...(runtime?.volumes ?? []).map((v, i) => `exec ${10 + i}< ${q(v.source)}`)];
  lines.push('umount -l /run/netns /run/netlab/*/mnt /run 2>/dev/null || true');
  const mountAll = 'mount --all --no-canonicalize --fstab /proc/self/fd/9';
  const files = (runtime?.volumes ?? []).filter((v) => v.file).map((v) => q(v.target));
  lines.push(files.length > 0 ? "etc='-O X-netlab.etc'" : 'etc=');
  lines.push(`for f in ${ETC_FILES.join(' ')}; do if [ -L "/etc/$f" ] || [ ! -e "/etc/$f" ]; then etc='-O X-netlab.etc'; fi; done`);
  lines.push('if [ -n "$etc" ]; then');
  lines.push(`  ${mountAll} -O noX-netlab.etc`);
  // A file volume's mount point: a file, where it is missing (under a tmpfs of the container).
  for (const t of files) lines.push(`  [ -e ${t} ] || { mkdir -p "$(dirname ${t})" && : > ${t}; }`);
  for (const f of ETC_FILES) {
    // A symlink into /run (systemd-resolved's resolv.conf) leads into the private /run now: its target is made there.
    lines.push(`  [ -e /etc/${f} ] || { mkdir -p "$(dirname "$(readlink -m /etc/${f})")" && : > "$(readlink -m /etc/${f})"; }`);
  }
  lines.push('fi');
  lines.push(`exec ${mountAll} $etc`);
  return lines;
}
