#!/usr/bin/env bash
# Runs inside the test guest as root (test-vm.sh copies it into the run's
# control share; the image's minipod-vm-init runs it). Its output goes to the
# host as it is written; its exit code is the run's:
#   1. checks that the guest is what the tests need: systemd as PID 1, the
#      unified cgroup v2 hierarchy with the memory, pids and cpu controllers,
#      and a transient scope with Delegate=yes that can nest cgroups;
#   2. copies the shared checkout (read-only 9p) to the guest's own disk,
#      where builds and tests write (9p writes are ~6x slower);
#   3. provisions the guest with scripts/setup-host.sh, unchanged: every
#      Debian package is in the image, pip installs from the host's
#      wheelhouse (PIP_NO_INDEX, PIP_FIND_LINKS), the guest has no network;
#   4. runs pytest with MINIPOD_TESTS_MUST_RUN=1 and exits with its code.
# 125 means the guest or the harness failed before the tests.
set -uo pipefail

# shellcheck source=/dev/null
. /mnt/ctl/params            # PYTEST_ARGS and PY_COLORS, from test-vm.sh
repo=/root/minipod
venv=/opt/minipod/venv

# the guest's uptime in hundredths of a second (/proc/uptime has two decimals)
uptime_cs() { local up _; read -r up _ </proc/uptime; echo $((10#${up/./})); }
seconds() { printf '%d.%d' $(($1 / 100)) $(($1 % 100 / 10)); }
since() { seconds $(($(uptime_cs) - $1)); }
say() { printf 'minipod-vm: [%6s s] %s\n' "$(seconds "$(uptime_cs)")" "$*"; }
fail() { say "FAILED: $*"; exit 125; }

say "guest up: $(uname -r), systemd $(systemctl --version | sed -n '1s/^systemd \([0-9]*\).*/\1/p'), $(nproc) cpus"

say "boot: $(systemd-analyze 2>&1 | head -n 1)"

# 1. The guest.
pid1=$(ps -p 1 -o comm=)
say "PID 1: $pid1"
[ "$pid1" = systemd ] || fail "PID 1 is $pid1, not systemd"
fstype=$(stat -f -c %T /sys/fs/cgroup)
controllers=$(cat /sys/fs/cgroup/cgroup.controllers 2>/dev/null)
say "/sys/fs/cgroup: $fstype, controllers: $controllers"
[ "$fstype" = cgroup2fs ] || fail "/sys/fs/cgroup is $fstype, not cgroup2fs"
for c in memory pids cpu; do
    [[ " $controllers " == *" $c "* ]] || fail "the $c controller is not available"
done
# What a foreground `minipod up` will do: a transient scope that systemd
# delegates, in which the supervisor moves itself to a leaf and gives the
# memory, pids and cpu controllers to a pod's cgroup.
# shellcheck disable=SC2016
delegated=$(systemd-run --quiet --scope -p Delegate=yes --unit=minipod-vm-delegate-check -- \
    bash -c 'set -e
        cg=/sys/fs/cgroup$(sed -n "s/^0:://p" /proc/self/cgroup)
        echo "scope $cg, Delegate=$(systemctl show -p Delegate --value minipod-vm-delegate-check.scope)"
        mkdir "$cg/supervisor" "$cg/pod"
        echo $$ > "$cg/supervisor/cgroup.procs"
        echo "+memory +pids +cpu" > "$cg/cgroup.subtree_control"
        echo "pod cgroup controllers: $(cat "$cg/pod/cgroup.controllers")"
        echo 64M > "$cg/pod/memory.max"
        echo "pod memory.max: $(cat "$cg/pod/memory.max")"
        rmdir "$cg/pod"' 2>&1)
drc=$?
while IFS= read -r line; do say "delegated scope: $line"; done <<<"$delegated"
[ $drc -eq 0 ] || fail "systemd-run --scope -p Delegate=yes (exit $drc)"
say "delegated scope: works"

# 2. The checkout, on the guest's disk.
mkdir -p /mnt/src /mnt/wheels "$repo"
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144,ro src /mnt/src ||
    fail "cannot mount the checkout's share"
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144,ro wheels /mnt/wheels ||
    fail "cannot mount the wheelhouse's share"
t0=$(uptime_cs)
tar -C /mnt/src --null -T /mnt/ctl/files -cf - | tar -C "$repo" -xf - ||
    fail "cannot copy the checkout"
say "checkout copied to $repo ($(du -sh "$repo" | cut -f1)) in $(since "$t0") s"

# 3. Provisioning, as `make setup` does it.
t0=$(uptime_cs)
say "provisioning: scripts/setup-host.sh deps install"
# Each line of its output is stamped with the guest's uptime.
# EXTRAS=test: the tests' own packages (pytest), as `make setup-test` asks;
# a plain install has minipod's runtime dependencies only
PIP_NO_INDEX=1 PIP_FIND_LINKS=/mnt/wheels PIP_DISABLE_PIP_VERSION_CHECK=1 EXTRAS=test \
    VENV=$venv PYTHON=/usr/bin/python3 bash "$repo/scripts/setup-host.sh" deps install 2>&1 |
    while IFS= read -r line; do say "$line"; done
[ "${PIPESTATUS[0]}" = 0 ] || fail "scripts/setup-host.sh failed"
say "provisioned in $(since "$t0") s"

# 4. The tests.
t0=$(uptime_cs)
say "tests: MINIPOD_TESTS_MUST_RUN=1 pytest ${PYTEST_ARGS[*]}"
cd "$repo" || fail "no $repo"
# the serial port is a terminal: colours only if the host's output is one too
PY_COLORS=$PY_COLORS MINIPOD_TESTS_MUST_RUN=1 "$venv/bin/pytest" "${PYTEST_ARGS[@]}"
rc=$?
say "tests ran in $(since "$t0") s, pytest exit code $rc"
exit $rc
