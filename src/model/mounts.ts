/**
 * A container's mount namespace as shell lines (pure): what `up` runs inside a new namespace
 * and `explain` prints. Mounts go parents first; the /etc files last, after /run is private.
 */
import { DEFAULT_TMPFS, type ContainerRuntime } from '../topology/runtime.js';

const q = (w: string) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(w) ? w : `'${w.replaceAll("'", `'\\''`)}'`);

/**
 * The setup script, run by a shell in the container's new mount and network namespaces:
 * - drops the copies of namespace files (/run/netns, other containers' namespaces) the new
 *   namespace inherited, which would otherwise keep those namespaces alive;
 * - a sysfs of the container's network namespace (as `ip netns exec` mounts);
 * - private tmpfs on /run, /tmp, /var/tmp and the container's own `tmpfs`, then its volumes;
 * - its /etc/hosts, /etc/resolv.conf and /etc/hostname over the host's (as Docker binds its copies).
 */
export function mountScript(etcDir: string, runtime: ContainerRuntime | undefined): string[] {
  const lines = [
    "awk '{ for (i = 7; $i != \"-\"; i++); if ($(i+1) == \"nsfs\") print $5 }' /proc/self/mountinfo | xargs -r umount -l 2>/dev/null || true",
    'mount -t sysfs -o ro,nosuid,nodev,noexec sysfs /sys',
  ];
  const tmpfs = [...DEFAULT_TMPFS, ...(runtime?.tmpfs ?? [])].map((t) => ({ target: t.target, line: `mount -t tmpfs -o ${q(t.options)} tmpfs ${q(t.target)}` }));
  // A volume's host path is opened first: a tmpfs may hide it later (a folder under /tmp), and
  // the kernel binds what the open file refers to (--no-canonicalize: mount(8) must not resolve the path).
  const volumes = (runtime?.volumes ?? []).map((v, i) => {
    lines.push(`exec ${10 + i}< ${q(v.source)}`);
    const bind = `mount --no-canonicalize --bind /proc/self/fd/${10 + i} ${q(v.target)}`;
    return { target: v.target, line: v.readOnly ? `${bind}\nmount -o remount,bind,ro ${q(v.target)}` : bind };
  });
  const depth = (p: string) => p.split('/').filter(Boolean).length;
  const mounts = [...tmpfs, ...volumes].map((m, i) => ({ ...m, i })).sort((a, b) => depth(a.target) - depth(b.target) || a.i - b.i);
  const inTmpfs = (p: string) => tmpfs.some((t) => p.startsWith(t.target + '/'));
  for (const m of mounts) {
    // A mount point under a tmpfs is made there; on the host's own file system it must exist.
    if (inTmpfs(m.target)) lines.push(`mkdir -p ${q(m.target)}`);
    lines.push(m.line);
    // /var/lock leads to /run/lock, which every Debian /run has (Apache's apache2ctl needs it).
    if (m.target === '/run') lines.push('mkdir -m 1777 /run/lock');
  }
  for (const f of ['hosts', 'resolv.conf', 'hostname']) {
    // A symlink into /run (systemd-resolved's resolv.conf) leads into the private /run now: its target is made there.
    lines.push(`[ -e /etc/${f} ] || { mkdir -p "$(dirname "$(readlink -f /etc/${f})")" && : > "$(readlink -f /etc/${f})"; }`);
    lines.push(`mount --bind ${q(`${etcDir}/${f}`)} /etc/${f}`);
  }
  return lines;
}
