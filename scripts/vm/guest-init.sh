#!/usr/bin/env bash
# Baked into the test guest's image as /usr/local/sbin/minipod-vm-init and run
# by minipod-vm.service once systemd has brought the guest up. It mounts the
# run's control share (tag "ctl", made by test-vm.sh), runs its guest-run.sh
# with output to the second serial port (a file the host streams), writes
# the exit code to the share; the unit then powers the guest off.
# It stays this small so that changing what a run does (guest-run.sh) does
# not change the image.
out=/dev/ttyS1
stty -F "$out" 115200 raw -echo 2>/dev/null
exec >"$out" 2>&1
mkdir -p /mnt/ctl
if ! mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 ctl /mnt/ctl; then
    echo "minipod-vm: cannot mount the control share"
    exit 1
fi
bash /mnt/ctl/guest-run.sh
rc=$?
echo "$rc" > /mnt/ctl/rc.tmp && mv /mnt/ctl/rc.tmp /mnt/ctl/rc
sync
exit 0
