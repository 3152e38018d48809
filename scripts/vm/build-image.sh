#!/usr/bin/env bash
# Builds the Debian guest (kernel, initrd, ext4 root image, ssh key) from Debian packages only,
# into $CACHE_ROOT/<hash of the package list and this script>; an existing build is reused.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
[ "$(id -u)" -eq 0 ] || die "build-image.sh: run as root (sudo)"

out=$(image_dir)
if [ -f "$out/done" ]; then log "guest image: cached in $out"; exit 0; fi
rm -rf "$out"; mkdir -p "$out"
work=$(mktemp -d "$CACHE_ROOT/build.XXXXXX")
trap 'rm -rf "$work"' EXIT
ssh-keygen -q -t ed25519 -N '' -C netlab-vm -f "$work/id_ed25519"

# The initramfs holds only the modules a virtio guest needs to mount its root.
setup_hook='mkdir -p "$1/etc/initramfs-tools/conf.d" "$1/etc/initramfs-tools/hooks"
echo MODULES=list > "$1/etc/initramfs-tools/conf.d/netlab-vm"
printf "%s\n" "#!/bin/sh" "[ \"\$1\" = prereqs ] && exit 0" ". /usr/share/initramfs-tools/hook-functions" \
  "for m in virtio_pci virtio_blk virtio_net ext4; do force_load \$m; done" > "$1/etc/initramfs-tools/hooks/netlab-vm"
chmod +x "$1/etc/initramfs-tools/hooks/netlab-vm"'

log "guest image: mmdebstrap $SUITE (${#GUEST_PACKAGES[@]} packages and their dependencies)"
mmdebstrap --quiet --variant=apt --components=main \
  --keyring=/usr/share/keyrings/debian-archive-keyring.gpg \
  --include="$(IFS=,; echo "${GUEST_PACKAGES[*]}")" \
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/info/*' \
  --setup-hook="$setup_hook" \
  --customize-hook="\"$VM_DIR/guest-setup.sh\" \"\$1\" \"$work/id_ed25519.pub\"" \
  "$SUITE" "$work/root" "$MIRROR"

cp "$work"/root/boot/vmlinuz-* "$out/vmlinuz"
cp "$work"/root/boot/initrd.img-* "$out/initrd.img"
truncate -s 2G "$work/rootfs.img"
mkfs.ext4 -q -L netlab-root -d "$work/root" "$work/rootfs.img"
mv "$work/rootfs.img" "$work/id_ed25519" "$work/id_ed25519.pub" "$out/"
touch "$out/done"
# Only the current image is kept: another package list or build script is another hash.
find "$CACHE_ROOT" -mindepth 1 -maxdepth 1 -type d -regextype egrep -regex '.*/[0-9a-f]{16}' ! -path "$out" -exec rm -rf {} +
log "guest image: built in $out ($(du -sh "$out" | cut -f1))"
