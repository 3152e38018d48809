/*
 * nlfloor - "kernel floor" namespace configurator for netlab benchmarks.
 *
 * Reads lines on stdin:   NETNS_NAME IFNAME ADDR/PREFIX GATEWAY MTU
 * For each line: enters /run/netns/NETNS_NAME, opens a NETLINK_ROUTE socket
 * there and, with raw rtnetlink, sets lo up, sets IFNAME's MTU + up, adds the
 * IPv4 address and a default route via GATEWAY; then returns to the original
 * netns.  Blank lines and lines starting with '#' are ignored.
 *
 * Syscalls per namespace: open, setns, socket, ioctl(SIOCGIFINDEX),
 * one sendmsg carrying all 4 requests, one recvmsg (on success), close x2,
 * setns back.  Only the last request asks for an ACK: the kernel processes the
 * requests of one sendmsg in order and always reports a failing request with
 * an NLMSG_ERROR (NLM_F_ACK or not), so when the ACK of the last request has
 * arrived every earlier error has arrived before it and has been checked.
 * Pass -a to request an ACK for every message instead (4 recvmsg per netns).
 *
 * -x HOSTS UTSDIR: also make what netlab makes beside the network, the leanest
 * way: lo gets an alias (netlab's mark) in the same request that sets it up, a
 * UTS namespace named after NETNS is bound on UTSDIR/NETNS (unshare, sethostname,
 * bind mount, setns back), and /etc/netns/NETNS/ gets hosts (a copy of the file
 * HOSTS), resolv.conf and hostname, each written once (no temporary + rename);
 * IFNAME's net.ipv6.conf.IFNAME.disable_ipv6 is set to 1 before it comes up.
 * With MNTDIR, also a mount namespace per container as netlab makes it, bound on
 * MNTDIR/NETNS: a copy (setns, unshare) of one template made first (unshare,
 * private propagation, the inherited namespace files detached), the netns's sysfs, tmpfs on /run, /run/lock, /tmp and /var/tmp, the
 * three /etc/netns files bound over /etc's, then setns back and bind the
 * namespace from its file descriptor: syscalls only, no process.
 * -d UTSDIR [MNTDIR]: removes those again (umount + unlink, the three files, the folder).
 *
 * Build: cc -O2 -Wall -o nlfloor nlfloor.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#ifndef NETLINK_EXT_ACK
#define NETLINK_EXT_ACK 11
#endif
#ifndef NETLINK_CAP_ACK
#define NETLINK_CAP_ACK 10
#endif

#define NREQ 4
static const char *req_name[NREQ] = {
	"set lo up", "set link mtu/up", "add address", "add default route"
};
static int ack_all;
static int extras;          /* -x */
static const char *lo_alias;

static void die(const char *ns, const char *what, int err)
{
	fprintf(stderr, "nlfloor: netns %s: %s: %s\n", ns, what, strerror(err));
	exit(1);
}

/* Append a request header at the (aligned) end of buf; returns the header. */
static struct nlmsghdr *msg_begin(char *buf, size_t *len, int type, int flags,
				  unsigned seq, const void *body, size_t blen)
{
	struct nlmsghdr *h = (struct nlmsghdr *)(buf + *len);

	memset(h, 0, NLMSG_SPACE(blen));
	h->nlmsg_len = NLMSG_LENGTH(blen);
	h->nlmsg_type = type;
	h->nlmsg_flags = NLM_F_REQUEST | flags | (ack_all ? NLM_F_ACK : 0);
	h->nlmsg_seq = seq;
	memcpy(NLMSG_DATA(h), body, blen);
	return h;
}

static void add_attr(struct nlmsghdr *h, int type, const void *data, size_t dlen)
{
	struct rtattr *a = (struct rtattr *)((char *)h + NLMSG_ALIGN(h->nlmsg_len));

	a->rta_type = type;
	a->rta_len = RTA_LENGTH(dlen);
	memcpy(RTA_DATA(a), data, dlen);
	h->nlmsg_len = NLMSG_ALIGN(h->nlmsg_len) + RTA_ALIGN(a->rta_len);
}

static void msg_end(struct nlmsghdr *h, size_t *len)
{
	*len += NLMSG_ALIGN(h->nlmsg_len);
}

/* Print kernel extended-ACK message text if present. */
static const char *extack_msg(struct nlmsghdr *h)
{
	struct nlmsgerr *e = NLMSG_DATA(h);
	struct rtattr *a;
	int rem;

	if (!(h->nlmsg_flags & NLM_F_ACK_TLVS))
		return NULL;
	a = (struct rtattr *)((char *)e + sizeof(*e)); /* CAP_ACK: no payload copy */
	rem = (int)h->nlmsg_len - NLMSG_LENGTH(sizeof(*e));
	for (; RTA_OK(a, rem); a = RTA_NEXT(a, rem))
		if (a->rta_type == NLMSGERR_ATTR_MSG)
			return RTA_DATA(a);
	return NULL;
}

static void configure(int nl, const char *ns, int ifindex, struct in_addr addr,
		      int prefix, struct in_addr gw, unsigned mtu, unsigned seq0)
{
	char buf[1024] __attribute__((aligned(NLMSG_ALIGNTO)));
	size_t len = 0;
	struct nlmsghdr *h;
	struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC, .ifi_flags = IFF_UP,
				 .ifi_change = IFF_UP };
	struct ifaddrmsg ifa = { .ifa_family = AF_INET, .ifa_prefixlen = prefix,
				 .ifa_scope = RT_SCOPE_UNIVERSE, .ifa_index = ifindex };
	struct rtmsg rtm = { .rtm_family = AF_INET, .rtm_table = RT_TABLE_MAIN,
			     .rtm_protocol = RTPROT_STATIC,
			     .rtm_scope = RT_SCOPE_UNIVERSE, .rtm_type = RTN_UNICAST };
	struct sockaddr_nl kern = { .nl_family = AF_NETLINK };
	struct iovec iov;
	struct msghdr mh = { .msg_name = &kern, .msg_namelen = sizeof(kern),
			     .msg_iov = &iov, .msg_iovlen = 1 };
	int got = 0, need = ack_all ? NREQ : 1;

	ifi.ifi_index = 1;                               /* lo is always 1 */
	h = msg_begin(buf, &len, RTM_NEWLINK, 0, seq0, &ifi, sizeof(ifi));
	if (extras)
		add_attr(h, IFLA_IFALIAS, lo_alias, strlen(lo_alias) + 1);
	msg_end(h, &len);

	ifi.ifi_index = ifindex;
	h = msg_begin(buf, &len, RTM_NEWLINK, 0, seq0 + 1, &ifi, sizeof(ifi));
	add_attr(h, IFLA_MTU, &mtu, sizeof(mtu));
	msg_end(h, &len);

	h = msg_begin(buf, &len, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL,
		      seq0 + 2, &ifa, sizeof(ifa));
	add_attr(h, IFA_LOCAL, &addr, sizeof(addr));
	add_attr(h, IFA_ADDRESS, &addr, sizeof(addr));
	msg_end(h, &len);

	h = msg_begin(buf, &len, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK,
		      seq0 + 3, &rtm, sizeof(rtm));
	add_attr(h, RTA_GATEWAY, &gw, sizeof(gw));
	msg_end(h, &len);

	iov.iov_base = buf;
	iov.iov_len = len;
	if (sendmsg(nl, &mh, 0) != (ssize_t)len)
		die(ns, "netlink sendmsg", errno);

	while (got < need) {
		ssize_t n = recv(nl, buf, sizeof(buf), 0);
		int rem;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			die(ns, "netlink recv", errno);
		}
		rem = (int)n;
		for (h = (struct nlmsghdr *)buf; NLMSG_OK(h, rem); h = NLMSG_NEXT(h, rem)) {
			struct nlmsgerr *e = NLMSG_DATA(h);
			unsigned idx = h->nlmsg_seq - seq0;
			const char *what, *ext;

			if (h->nlmsg_type != NLMSG_ERROR || idx >= NREQ)
				continue;             /* not ours / not an ack */
			if (e->error) {
				what = req_name[idx];
				ext = extack_msg(h);
				fprintf(stderr, "nlfloor: netns %s: %s failed: %s%s%s\n",
					ns, what, strerror(-e->error),
					ext ? " - " : "", ext ? ext : "");
				exit(1);
			}
			got++;
		}
	}
}

static void write_file(const char *ns, const char *path, const char *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0 || write(fd, data, len) != (ssize_t)len || close(fd) < 0)
		die(ns, path, errno);
}

/* A UTS namespace with the host name NS, bound on UTSDIR/NS; /etc/netns/NS/{hosts,resolv.conf,hostname}. */
static void make_extras(const char *ns, const char *utsdir, int home_uts, const char *hosts, size_t hosts_len)
{
	static const char resolv[] = "nameserver 8.8.8.8\nnameserver 8.8.4.4\n";
	char path[600], name[300];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", utsdir, ns);
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		die(ns, path, errno);
	close(fd);
	if (unshare(CLONE_NEWUTS) < 0 || sethostname(ns, strlen(ns)) < 0)
		die(ns, "unshare/sethostname", errno);
	if (mount("/proc/thread-self/ns/uts", path, "none", MS_BIND, NULL) < 0)
		die(ns, "bind mount of the UTS namespace", errno);
	if (setns(home_uts, CLONE_NEWUTS) < 0)
		die(ns, "setns back to the original UTS namespace", errno);

	snprintf(path, sizeof(path), "/etc/netns/%s", ns);
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		die(ns, path, errno);
	snprintf(path, sizeof(path), "/etc/netns/%s/hosts", ns);
	write_file(ns, path, hosts, hosts_len);
	snprintf(path, sizeof(path), "/etc/netns/%s/resolv.conf", ns);
	write_file(ns, path, resolv, sizeof(resolv) - 1);
	snprintf(path, sizeof(path), "/etc/netns/%s/hostname", ns);
	snprintf(name, sizeof(name), "%s\n", ns);
	write_file(ns, path, name, strlen(name));
}

static void remove_extras(const char *ns, const char *utsdir)
{
	static const char *files[] = { "hosts", "resolv.conf", "hostname" };
	char path[600];
	unsigned i;

	snprintf(path, sizeof(path), "%s/%s", utsdir, ns);
	if (umount2(path, MNT_DETACH) < 0 || unlink(path) < 0)
		die(ns, path, errno);
	for (i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "/etc/netns/%s/%s", ns, files[i]);
		if (unlink(path) < 0)
			die(ns, path, errno);
	}
	snprintf(path, sizeof(path), "/etc/netns/%s", ns);
	if (rmdir(path) < 0)
		die(ns, path, errno);
}

static void tmpfs(const char *ns, const char *target, unsigned long flags, const char *options)
{
	if (mkdir(target, 0755) < 0 && errno != EEXIST)
		die(ns, target, errno);
	if (mount("netlab-tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV | flags, options) < 0)
		die(ns, target, errno);
}

/* MNTDIR bound on itself, private: the kernel binds a mount namespace only on a mount that is not shared. */
static void private_dir(const char *mntdir)
{
	if (mkdir(mntdir, 0755) < 0 && errno != EEXIST)
		die("(mntdir)", mntdir, errno);
	if (mount(mntdir, mntdir, NULL, MS_BIND, NULL) < 0 || mount(NULL, mntdir, NULL, MS_PRIVATE, NULL) < 0)
		die("(mntdir)", mntdir, errno);
}

/* The template the containers' namespaces copy: the host's mounts, private, without copies of namespace files (they would keep those namespaces alive). */
static int make_template(const char *utsdir, const char *mntdir, int home_mnt)
{
	int fd;

	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		die("(template)", "unshare(CLONE_NEWNS)", errno);
	/* Errors ignored: not a mount here. */
	umount2("/run/netns", MNT_DETACH);
	umount2(utsdir, MNT_DETACH);
	umount2(mntdir, MNT_DETACH);
	fd = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
	if (fd < 0 || setns(home_mnt, CLONE_NEWNS) < 0)
		die("(template)", "setns back to the original mount namespace", errno);
	return fd;
}

/* The container's mount namespace, made as netlab's netlink backend makes it, bound on MNTDIR/NS. */
static void make_mnt(const char *ns, const char *mntdir, int template, int netfd, int home, int home_mnt)
{
	static const char *etc[] = { "hosts", "resolv.conf", "hostname" };
	char path[600], src[600];
	unsigned i;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", mntdir, ns);
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		die(ns, path, errno);
	close(fd);
	if (setns(template, CLONE_NEWNS) < 0 || unshare(CLONE_NEWNS) < 0)
		die(ns, "unshare(CLONE_NEWNS)", errno);
	if (setns(netfd, CLONE_NEWNET) < 0 ||
	    mount("netlab-sysfs", "/sys", "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0 ||
	    setns(home, CLONE_NEWNET) < 0)
		die(ns, "sysfs of the netns", errno);
	tmpfs(ns, "/run", 0, "mode=755");
	tmpfs(ns, "/run/lock", MS_NOEXEC, "mode=1777,size=5m");
	tmpfs(ns, "/tmp", 0, "mode=1777");
	tmpfs(ns, "/var/tmp", 0, "mode=1777");
	for (i = 0; i < 3; i++) {
		snprintf(src, sizeof(src), "/etc/netns/%s/%s", ns, etc[i]);
		snprintf(path, sizeof(path), "/etc/%s", etc[i]);
		if (mount(src, path, NULL, MS_BIND, NULL) < 0)
			die(ns, path, errno);
	}
	fd = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
	if (fd < 0 || setns(home_mnt, CLONE_NEWNS) < 0)
		die(ns, "setns back to the original mount namespace", errno);
	snprintf(src, sizeof(src), "/proc/self/fd/%d", fd);
	snprintf(path, sizeof(path), "%s/%s", mntdir, ns);
	if (mount(src, path, NULL, MS_BIND, NULL) < 0)
		die(ns, "bind mount of the mount namespace", errno);
	close(fd);
}

static void remove_mnt(const char *ns, const char *mntdir)
{
	char path[600];

	snprintf(path, sizeof(path), "%s/%s", mntdir, ns);
	if (umount2(path, MNT_DETACH) < 0 || unlink(path) < 0)
		die(ns, path, errno);
}

static char *read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *data;
	long n;

	if (!f || fseek(f, 0, SEEK_END) < 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) < 0)
		die("(hosts)", path, errno);
	data = malloc(n + 1);
	if (!data || fread(data, 1, n, f) != (size_t)n)
		die("(hosts)", path, errno);
	fclose(f);
	*len = n;
	return data;
}

int main(int argc, char **argv)
{
	char line[512], ns[256], ifname[IFNAMSIZ + 1], cidr[64], gws[64], path[300];
	char alias[300];
	unsigned mtu, seq = 1, count = 0;
	int home, home_uts, home_mnt, template = -1, one = 1, lineno = 0, teardown = 0;
	const char *utsdir = NULL, *mntdir = NULL;
	char *hosts = NULL;
	size_t hosts_len = 0;

	if (argc == 2 && !strcmp(argv[1], "-a"))
		ack_all = 1;
	else if ((argc == 4 || argc == 5) && !strcmp(argv[1], "-x")) {
		extras = 1;
		hosts = read_all(argv[2], &hosts_len);
		utsdir = argv[3];
		mntdir = argc == 5 ? argv[4] : NULL;
	} else if ((argc == 3 || argc == 4) && !strcmp(argv[1], "-d")) {
		teardown = 1;
		utsdir = argv[2];
		mntdir = argc == 4 ? argv[3] : NULL;
	} else if (argc > 1) {
		fprintf(stderr, "usage: %s [-a | -x HOSTS UTSDIR [MNTDIR] | -d UTSDIR [MNTDIR]] < 'NETNS IFNAME ADDR/PREFIX GW MTU' lines\n",
			argv[0]);
		return 2;
	}
	home = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (home < 0)
		die("(self)", "open /proc/self/ns/net", errno);
	home_uts = open("/proc/self/ns/uts", O_RDONLY | O_CLOEXEC);
	if (home_uts < 0)
		die("(self)", "open /proc/self/ns/uts", errno);
	home_mnt = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
	if (home_mnt < 0)
		die("(self)", "open /proc/self/ns/mnt", errno);
	if (extras && mntdir) {
		private_dir(mntdir);
		template = make_template(utsdir, mntdir, home_mnt);
	}

	while (fgets(line, sizeof(line), stdin)) {
		struct in_addr addr, gw;
		struct ifreq ifr;
		char *slash;
		int prefix, fd, nl;

		lineno++;
		if (line[0] == '\n' || line[0] == '#')
			continue;
		if (sscanf(line, "%255s %16s %63s %63s %u", ns, ifname, cidr, gws, &mtu) != 5 ||
		    !(slash = strchr(cidr, '/')) || strlen(ifname) >= IFNAMSIZ) {
			fprintf(stderr, "nlfloor: line %d: malformed: %s", lineno, line);
			return 1;
		}
		*slash = 0;
		prefix = atoi(slash + 1);
		if (inet_pton(AF_INET, cidr, &addr) != 1 || prefix < 0 || prefix > 32 ||
		    inet_pton(AF_INET, gws, &gw) != 1) {
			fprintf(stderr, "nlfloor: line %d: bad address: %s", lineno, line);
			return 1;
		}

		if (teardown) {
			remove_extras(ns, utsdir);
			if (mntdir)
				remove_mnt(ns, mntdir);
			count++;
			continue;
		}
		snprintf(alias, sizeof(alias), "nlfloor:%s", ns);
		lo_alias = alias;
		snprintf(path, sizeof(path), "/run/netns/%s", ns);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			die(ns, "open /run/netns", errno);
		if (setns(fd, CLONE_NEWNET) < 0)
			die(ns, "setns", errno);
		nl = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
		if (nl < 0)
			die(ns, "socket(NETLINK_ROUTE)", errno);
		/* Best effort: kernel error strings, and no request echo in errors. */
		setsockopt(nl, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
		setsockopt(nl, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));

		/* The netlink socket lives in the target netns, and SIOCGIFINDEX on
		 * any socket resolves names in that socket's netns: 1 syscall, no
		 * extra RTM_GETLINK round trip. */
		memset(&ifr, 0, sizeof(ifr));
		memcpy(ifr.ifr_name, ifname, strlen(ifname) + 1); /* len checked */
		if (ioctl(nl, SIOCGIFINDEX, &ifr) < 0)
			die(ns, ifname, errno);

		/* netlab turns IPv6 off on the interface before it comes up (Docker's
		 * IPv4-only endpoint): /proc/sys/net is the writer's namespace's. */
		if (extras) {
			char sysctl[128];
			int sfd;

			snprintf(sysctl, sizeof(sysctl), "/proc/sys/net/ipv6/conf/%s/disable_ipv6", ifname);
			sfd = open(sysctl, O_WRONLY | O_CLOEXEC);
			if (sfd >= 0) {
				if (write(sfd, "1", 1) != 1)
					die(ns, sysctl, errno);
				close(sfd);
			} else if (errno != ENOENT) /* ENOENT: a kernel without IPv6 */
				die(ns, sysctl, errno);
		}
		configure(nl, ns, ifr.ifr_ifindex, addr, prefix, gw, mtu, seq);
		seq += NREQ;
		close(nl);
		if (setns(home, CLONE_NEWNET) < 0)
			die(ns, "setns back to original netns", errno);
		if (extras)
			make_extras(ns, utsdir, home_uts, hosts, hosts_len);
		if (extras && mntdir)
			make_mnt(ns, mntdir, template, fd, home, home_mnt);
		close(fd);
		count++;
	}
	if (ferror(stdin)) {
		perror("nlfloor: stdin");
		return 1;
	}
	if (teardown && mntdir && (umount2(mntdir, MNT_DETACH) < 0 || rmdir(mntdir) < 0))
		die("(mntdir)", mntdir, errno);
	fprintf(stderr, "nlfloor: %s %u namespaces\n", teardown ? "removed the extras of" : "configured", count);
	return 0;
}
