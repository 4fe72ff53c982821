#!/usr/bin/env bash
# `make test-vm`: runs kernel tests in a Debian 12 guest with systemd as PID 1
# on the unified cgroup v2 hierarchy, the host most users have, under qemu.
#
#   test-vm.sh [PYTEST ARGUMENT...]     (as root; the Makefile passes VM_TESTS)
#
# 1. installs what it needs on the host when missing (mmdebstrap,
#    qemu-system-x86, qemu-utils, e2fsprogs);
# 2. builds the guest's image from Debian's packages (build-image.sh), or
#    reuses the one cached for the same recipe under $VM_CACHE;
# 3. makes a wheelhouse of the project's Python dependencies on the host (the
#    guest has no network), or reuses the cached one;
# 4. boots the image under qemu with snapshot=on (runs never change it) and
#    -nic none, shares the checkout (read-only), the wheelhouse (read-only)
#    and a control directory over virtio-9p; the guest (guest-run.sh) checks
#    itself, copies the checkout to its own disk, provisions itself with
#    scripts/setup-host.sh and runs pytest; its output is streamed here.
#
# Exit code: pytest's; 124 if the guest did not finish within VM_TIMEOUT
# seconds; 125 if the harness or the guest failed before the tests.
# Environment: VM_CACHE (default /var/tmp/minipod-vm), VM_TIMEOUT (seconds,
# default 1200), VM_CPUS (default: the host's), VM_MEM (MiB, default 3072),
# VM_ACCEL (default tcg; kvm where /dev/kvm runs a stock guest kernel),
# PYTHON (the host's interpreter for the wheelhouse, default /usr/bin/python3),
# and build-image.sh's VM_DEBIAN_MIRROR, VM_DEBIAN_SECURITY, VM_DISK_SIZE.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${VM_CACHE:-/var/tmp/minipod-vm}
timeout_s=${VM_TIMEOUT:-1200}
cpus=${VM_CPUS:-$(nproc)}
mem=${VM_MEM:-3072}
accel=${VM_ACCEL:-tcg}
PYTHON=${PYTHON:-/usr/bin/python3}
HOST_PACKAGES=(mmdebstrap qemu-system-x86 qemu-utils e2fsprogs debian-archive-keyring)
export DEBIAN_FRONTEND=noninteractive

say() { echo "test-vm: $*"; }
die() { echo "test-vm: $*" >&2; exit 125; }

if [ "$(id -u)" != 0 ]; then
    die "run as root (sudo make test-vm): mmdebstrap and mkfs build the image as root"
fi
[ $# -gt 0 ] || die "no tests given (the Makefile passes VM_TESTS)"
# The wheelhouse is built by the host's interpreter for the guest's: both
# must be Debian 12's Python 3.11 (the wheels of sdist-only packages are built here).
py_version=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])') ||
    die "no $PYTHON"
[ "$py_version" = 3.11 ] ||
    die "$PYTHON is Python $py_version; the guest's wheels need 3.11 (Debian 12's): PYTHON=..."

# 1. The host's packages, as setup-host.sh's deps step installs its own.
missing=()
for pkg in "${HOST_PACKAGES[@]}"; do
    if [ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null)" != "install ok installed" ]; then
        missing+=("$pkg")
    fi
done
if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]}"
    start=$SECONDS
    apt-get update -qq
    # qemu's recommends are a GUI, UEFI firmware and block drivers: not needed
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    say "installed in $((SECONDS - start)) s"
fi

mkdir -p "$cache"
# One build at a time per cache; a second run waits, then finds it made.
exec 9>"$cache/lock"

# Prints the seconds since $1 (a value of $SECONDS).
took() { echo "$((SECONDS - $1)) s"; }

# 2. The image, keyed by everything that makes it: the recipe, the runner
#    baked into it, the packages setup-host.sh's deps step installs, the
#    archives and the size.
mapfile -t apt_packages < <(bash "$repo/scripts/setup-host.sh" apt-packages)
image_key=$( {
    cat "$here/build-image.sh" "$here/guest-init.sh"
    printf '%s\n' "${apt_packages[@]}" "${VM_DEBIAN_MIRROR:-}" "${VM_DEBIAN_SECURITY:-}" \
        "${VM_DISK_SIZE:-}"
} | sha256sum | cut -c1-16)
image=$cache/image-$image_key
if [ ! -f "$image/rootfs.img" ]; then
    flock 9
    if [ ! -f "$image/rootfs.img" ]; then
        say "building the guest image $image (log: $cache/build-image.log)"
        start=$SECONDS
        rm -rf "$image.tmp"
        if ! bash "$here/build-image.sh" "$image.tmp" "${apt_packages[@]}" \
                >"$cache/build-image.log" 2>&1; then
            tail -n 40 "$cache/build-image.log" >&2
            rm -rf "$image.tmp"
            die "building the image failed (log: $cache/build-image.log)"
        fi
        mv "$image.tmp" "$image"
        # older recipes' images are of no further use
        find "$cache" -maxdepth 1 -name 'image-*' ! -name "image-$image_key" \
            -exec rm -rf {} +
        say "image built in $(took "$start"): $(du -h --apparent-size "$image/rootfs.img" | cut -f1) \
image, $(du -h "$image/rootfs.img" | cut -f1) on disk"
    fi
    flock -u 9
else
    say "reusing the guest image $image"
fi

# 3. The wheelhouse: the project's dependencies, its test extra and its
#    build requirements as wheels (a package with only a source
#    distribution is built here), and pip.
build_wheelhouse() {
    local dir=$1 reqs
    reqs=$("$PYTHON" - "$repo/pyproject.toml" <<'EOF'
import sys, tomllib
with open(sys.argv[1], "rb") as f:
    meta = tomllib.load(f)
reqs = list(meta["build-system"]["requires"]) + meta["project"]["dependencies"]
for extra in meta["project"].get("optional-dependencies", {}).values():
    reqs += extra
print("\n".join(reqs))
EOF
)
    "$PYTHON" -m venv "$dir/venv"
    "$dir/venv/bin/pip" install -q --disable-pip-version-check --upgrade pip
    # shellcheck disable=SC2086  # one requirement a line, none with spaces
    "$dir/venv/bin/pip" wheel -q --disable-pip-version-check --wheel-dir "$dir/wheels" \
        pip $reqs
    rm -rf "$dir/venv"
}
wheels_key=$( {
    declare -f build_wheelhouse
    cat "$repo/pyproject.toml"
    "$PYTHON" -c 'import sys; print(sys.version)'
} | sha256sum | cut -c1-16)
wheels=$cache/wheels-$wheels_key
if [ ! -d "$wheels/wheels" ]; then
    flock 9
    if [ ! -d "$wheels/wheels" ]; then
        say "making the wheelhouse $wheels (log: $cache/wheelhouse.log)"
        start=$SECONDS
        rm -rf "$wheels.tmp"
        mkdir "$wheels.tmp"
        if ! build_wheelhouse "$wheels.tmp" >"$cache/wheelhouse.log" 2>&1; then
            tail -n 40 "$cache/wheelhouse.log" >&2
            rm -rf "$wheels.tmp"
            die "making the wheelhouse failed (log: $cache/wheelhouse.log)"
        fi
        mv "$wheels.tmp" "$wheels"
        find "$cache" -maxdepth 1 -name 'wheels-*' ! -name "wheels-$wheels_key" \
            -exec rm -rf {} +
        say "wheelhouse made in $(took "$start"): $(find "$wheels/wheels" -name '*.whl' | wc -l) wheels"
    fi
    flock -u 9
else
    say "reusing the wheelhouse $wheels"
fi
exec 9>&-

# 4. The run: a control directory shared with the guest. Those of runs
#    whose script was killed outright are removed first.
for dir in "$cache"/run.*; do
    owner=$(cat "$dir/owner" 2>/dev/null) || continue
    if ! kill -0 "$owner" 2>/dev/null; then
        rm -rf "$dir"
    fi
done
run=$(mktemp -d "$cache/run.XXXXXX")
echo $$ >"$run/owner"
qemu_pid=
# Stops the qemu this script started (SIGTERM, SIGKILL after 10 s).
stop_qemu() {
    kill -TERM "$qemu_pid" 2>/dev/null || return 0
    for _ in $(seq 20); do
        kill -0 "$qemu_pid" 2>/dev/null || return 0
        sleep 0.5
    done
    kill -KILL "$qemu_pid" 2>/dev/null || true
}
# shellcheck disable=SC2317  # the EXIT trap calls it
cleanup() {
    if [ -n "$qemu_pid" ]; then
        stop_qemu
    fi
    rm -rf "$run"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

install -m 0644 "$here/guest-run.sh" "$run/guest-run.sh"
# shellcheck disable=SC2034  # read by guest-run.sh
PYTEST_ARGS=("$@")
if [ -t 1 ]; then PY_COLORS=1; else PY_COLORS=0; fi
declare -p PYTEST_ARGS PY_COLORS >"$run/params"
# The files to copy: the checkout as git sees it (tracked and untracked,
# without what .gitignore names: builds, caches, venvs); everything if it is
# not a git checkout.
if git -C "$repo" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git -C "$repo" ls-files -z --cached --others --exclude-standard |
        while IFS= read -r -d '' f; do
            if [ -e "$repo/$f" ] || [ -L "$repo/$f" ]; then printf '%s\0' "$f"; fi
        done >"$run/files"
else
    printf '.\0' >"$run/files"
fi

case $accel in
    kvm) accel_args=(-accel kvm -cpu host) ;;
    *) accel_args=(-accel "tcg,thread=multi,tb-size=512" -cpu max) ;;
esac
virtfs() { echo "local,path=$1,mount_tag=$2,security_model=none,id=$2${3:+,$3}"; }
: >"$run/output"
say "booting the guest ($accel, $cpus cpus, $mem MiB, timeout $timeout_s s); tests: $*"
start=$SECONDS
# --pdeathsig: qemu dies with this script, even if it is killed outright
setpriv --pdeathsig KILL -- qemu-system-x86_64 -name minipod-test-vm \
    "${accel_args[@]}" -smp "$cpus" -m "$mem" \
    -nodefaults -display none -no-reboot -nic none \
    -kernel "$image/vmlinuz" -initrd "$image/initrd.img" \
    -append "root=/dev/vda rw console=ttyS0 quiet panic=-1 systemd.unified_cgroup_hierarchy=1 systemd.show_status=0" \
    -drive "file=$image/rootfs.img,if=virtio,format=raw,snapshot=on" \
    -serial "file:$run/console.log" -serial "file:$run/output" \
    -virtfs "$(virtfs "$run" ctl)" \
    -virtfs "$(virtfs "$repo" src readonly=on)" \
    -virtfs "$(virtfs "$wheels/wheels" wheels readonly=on)" \
    </dev/null >"$run/qemu.log" 2>&1 &
qemu_pid=$!
tail -n +1 -f --pid="$qemu_pid" "$run/output" &
deadline=$((SECONDS + timeout_s))
timed_out=0
while kill -0 "$qemu_pid" 2>/dev/null; do
    if [ $SECONDS -ge $deadline ]; then
        timed_out=1
        stop_qemu
        break
    fi
    sleep 1
done
qemu_rc=0
wait "$qemu_pid" || qemu_rc=$?
qemu_pid=
wait   # the tail
cp "$run/console.log" "$cache/console.log"
say "the guest ran for $(took "$start") (qemu exit status $qemu_rc)"

if [ $timed_out = 1 ]; then
    tail -n 30 "$run/console.log" >&2
    echo "test-vm: TIMEOUT: the guest did not finish within $timeout_s s (VM_TIMEOUT);" \
        "it was stopped. Console log: $cache/console.log" >&2
    exit 124
fi
if [ ! -s "$run/rc" ]; then
    cat "$run/qemu.log" >&2
    tail -n 40 "$run/console.log" >&2
    die "the guest ended without an exit code (console log: $cache/console.log)"
fi
rc=$(cat "$run/rc")
say "exit code $rc"
exit "$rc"
