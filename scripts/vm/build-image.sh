#!/usr/bin/env bash
# Builds the test guest of `make test-vm` from Debian's packages only: a
# Debian 12 tree made by mmdebstrap (systemd as PID 1, Debian's
# linux-image-amd64, and every package of setup-host.sh's `deps` step, since
# the guest has no network), turned into an ext4 image by `mkfs.ext4 -d`
# (no loop mount). test-vm.sh calls it when its cache has no image for the
# current recipe; the image is only ever opened with snapshot=on.
#
#   build-image.sh OUTDIR PACKAGE...
#
# OUTDIR must not exist; it ends up holding vmlinuz, initrd.img, rootfs.img.
# Environment: VM_DEBIAN_MIRROR, VM_DEBIAN_SECURITY (Debian's archive and
# its security archive), VM_DISK_SIZE (the image's size, sparse).
set -euo pipefail

out=$1
shift
here=$(cd "$(dirname "$0")" && pwd)
mirror=${VM_DEBIAN_MIRROR:-http://deb.debian.org/debian}
security=${VM_DEBIAN_SECURITY:-http://deb.debian.org/debian-security}
keyring=/usr/share/keyrings/debian-archive-keyring.gpg

# systemd as PID 1 (systemd-sysv), dbus for systemd-run, the kernel and the
# tools to boot it, then what the tests need.
packages=(systemd-sysv udev dbus linux-image-amd64 initramfs-tools kmod
          procps iproute2 "$@")

mkdir "$out"
tree=$out/tree

# Debian's own archive only, whatever else the host's apt sources hold.
sources=(
    "deb [signed-by=$keyring] $mirror bookworm main"
    "deb [signed-by=$keyring] $mirror bookworm-updates main"
    "deb [signed-by=$keyring] $security bookworm-security main"
)

# The initramfs needs only what mounts the root disk; a smaller one is made
# and unpacked sooner (TCG runs it ~12x slower than the host would).
# minipod-vm.service (guest-init.sh) runs the host's script and powers off;
# Type=exec, not oneshot, so that the boot is over (`systemctl
# is-system-running`) while the tests run, as on a host.
# Timers and gettys that would only compete with the tests are masked.
# (The hooks are shell code that mmdebstrap runs with the tree as $1.)
# shellcheck disable=SC2016
mmdebstrap --variant=apt --include="$(IFS=,; echo "${packages[*]}")" \
    --essential-hook='mkdir -p "$1/etc/initramfs-tools/conf.d" \
            "$1/usr/share/initramfs-tools/modules.d" &&
        echo MODULES=list > "$1/etc/initramfs-tools/conf.d/minipod-vm" &&
        printf "%s\n" virtio_pci virtio_blk ext4 crc32c_generic \
            > "$1/usr/share/initramfs-tools/modules.d/minipod-vm"' \
    --customize-hook='echo minipod-vm > "$1/etc/hostname"' \
    --customize-hook='echo "127.0.1.1 minipod-vm" >> "$1/etc/hosts"' \
    --customize-hook='printf "/dev/vda / ext4 rw,relatime 0 0\n" > "$1/etc/fstab"' \
    --customize-hook="upload $here/guest-init.sh /usr/local/sbin/minipod-vm-init" \
    --customize-hook='chmod 0755 "$1/usr/local/sbin/minipod-vm-init"' \
    --customize-hook='cat > "$1/etc/systemd/system/minipod-vm.service" <<EOF
[Unit]
Description=minipod test-vm: run the host'"'"'s script, then power off
After=multi-user.target
Wants=multi-user.target

[Service]
Type=exec
Environment=HOME=/root LANG=C.UTF-8
TasksMax=infinity
StandardInput=null
ExecStart=/usr/local/sbin/minipod-vm-init
ExecStopPost=/bin/systemctl --no-block --force poweroff

[Install]
WantedBy=multi-user.target
EOF' \
    --customize-hook='chroot "$1" systemctl enable minipod-vm.service' \
    --customize-hook='chroot "$1" systemctl mask apt-daily.timer apt-daily-upgrade.timer \
        dpkg-db-backup.timer e2scrub_all.timer e2scrub_reap.service fstrim.timer \
        getty@tty1.service serial-getty@ttyS0.service systemd-networkd-wait-online.service' \
    --customize-hook='rm -f "$1/etc/machine-id" && touch "$1/etc/machine-id"' \
    bookworm "$tree" "${sources[@]}"

cp -L "$tree"/boot/vmlinuz-* "$out/vmlinuz"
cp -L "$tree"/boot/initrd.img-* "$out/initrd.img"
mkfs.ext4 -q -F -L minipod-vm -d "$tree" "$out/rootfs.img" "${VM_DISK_SIZE:-4G}"
rm -rf "$tree"
chmod 0444 "$out/vmlinuz" "$out/initrd.img" "$out/rootfs.img"
