#!/usr/bin/env bash
# mmdebstrap's customize hook: configures the guest root $1 (ssh key $2 for root, network
# from the kernel command line, the repository disk on /netlab, netlab on PATH).
set -euo pipefail
root=$1 pubkey=$2

install -d -m 700 "$root/root/.ssh"
install -m 600 "$pubkey" "$root/root/.ssh/authorized_keys"

# netlab.addr=10.248.56.11/24,192.168.56.11/24 on the kernel command line: eth0's addresses.
# No gateway: the host-only bridge leads nowhere else. The script waits for eth0 itself rather
# than for udev's device unit, which can take minutes under emulation on a busy host.
cat > "$root/usr/local/sbin/netlab-vm-net" <<'SH'
#!/bin/sh
for kv in $(cat /proc/cmdline); do case "$kv" in netlab.addr=*) addrs=${kv#*=} ;; esac; done
i=0; while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 3600 ]; do sleep 0.5; i=$((i + 1)); done
ip link set lo up
ip link set eth0 up
for a in $(echo "$addrs" | tr , ' '); do ip addr replace "$a" dev eth0; done
echo "127.0.1.1 $(hostname)" >> /etc/hosts
SH
chmod 755 "$root/usr/local/sbin/netlab-vm-net"
cat > "$root/etc/systemd/system/netlab-vm-net.service" <<'UNIT'
[Unit]
Description=netlab VM: the host-only addresses from the kernel command line
DefaultDependencies=no
After=systemd-remount-fs.service
Wants=network-pre.target
Before=network-pre.target ssh.service

[Service]
Type=oneshot
RemainAfterExit=yes
TimeoutStartSec=infinity
ExecStart=/usr/local/sbin/netlab-vm-net

[Install]
WantedBy=multi-user.target
UNIT
ln -sf /etc/systemd/system/netlab-vm-net.service "$root/etc/systemd/system/multi-user.target.wants/netlab-vm-net.service"

# The repository (with node_modules and dist) comes on a second disk.
mkdir -p "$root/netlab"
echo '/dev/vdb /netlab ext4 defaults,nofail,x-systemd.device-timeout=10min 0 2' >> "$root/etc/fstab"
echo '/dev/vda / ext4 defaults 0 1' >> "$root/etc/fstab"
ln -sf /netlab/dist/cli/main.js "$root/usr/local/bin/netlab"

# Nothing periodic competes with the experiment for the emulated CPUs.
# Nor first-boot work (hwdb, ldconfig, catalog: done at build time) or a login prompt.
for t in apt-daily.timer apt-daily-upgrade.timer man-db.timer e2scrub_all.timer fstrim.timer \
  dpkg-db-backup.timer e2scrub_reap.service systemd-hwdb-update.service ldconfig.service \
  systemd-journal-catalog-update.service systemd-update-done.service systemd-firstboot.service \
  serial-getty@ttyS0.service getty@tty1.service systemd-pstore.service; do
  ln -sf /dev/null "$root/etc/systemd/system/$t"
done
mkdir -p "$root/etc/systemd/journald.conf.d"
printf '[Journal]\nStorage=volatile\n' > "$root/etc/systemd/journald.conf.d/netlab-vm.conf"
echo 'UseDNS no' > "$root/etc/ssh/sshd_config.d/netlab-vm.conf"
: > "$root/etc/machine-id"
touch "$root/etc/.updated" "$root/var/.updated"
# Drivers for hardware the experiment does not use: less work for udev under emulation.
printf 'blacklist %s\n' kvm kvm_amd kvm_intel pcspkr floppy i2c_piix4 powernow_k8 serio_raw joydev \
  ata_piix ata_generic intel_rapl_msr intel_rapl_common qemu_fw_cfg > "$root/etc/modprobe.d/netlab-vm.conf"

