/** Where netlab keeps its files on the host. /run is tmpfs: state vanishes on reboot, like the kernel objects. */
import { join } from 'node:path';

export const RUN_DIR = process.env.NETLAB_RUN_DIR ?? '/run/netlab';
export const NETNS_DIR = '/run/netns';
/** `ip netns exec` bind-mounts the files of /etc/netns/<ns>/ over /etc in the command's view. */
export const ETC_NETNS_DIR = '/etc/netns';

export const labDir = (lab: string) => join(RUN_DIR, lab);
/** Where one host's share of a lab keeps its state: the lab's folder, or hosts/<host>/ in it for a multi-host lab. */
export const shareDir = (lab: string, host?: string) => (host ? join(labDir(lab), 'hosts', host) : labDir(lab));
export const stateFile = (lab: string, host?: string) => join(shareDir(lab, host), 'state.json');
/** Open vSwitch daemons that `--simulate` runs for one simulated host. */
export const ovsRunDir = (lab: string, host: string) => join(labDir(lab), 'ovs', host);
export const simulateFile = (lab: string) => join(labDir(lab), 'simulate.json');
export const utsPath = (lab: string, container: string) => join(labDir(lab), 'uts', container);
/** The folders of the containers that run a command. */
export const containersDir = (lab: string) => join(labDir(lab), 'containers');
/** A container's monitor: its pid file, the state it records, the stop flag. */
export const ctrDir = (lab: string, container: string) => join(containersDir(lab), container);
export const mntPath = (lab: string, container: string) => join(labDir(lab), 'mnt', container);
export const logPath = (lab: string, container: string) => join(labDir(lab), 'logs', `${container}.log`);
/** Beside a container's log, the time each chunk of it came (assets/stamp.pl): `logs -t`, `--since`, `--until`. */
export const timesPath = (log: string) => log.replace(/(\.log)?$/, '.times');
export const etcNetnsDir = (ns: string) => join(ETC_NETNS_DIR, ns);
