#!/usr/bin/env bash
# Sets up a Debian 12 host for minipod. `make setup` runs it,
# and so does the provisioning of the Vagrant VM (vagrant/Vagrantfile): a VM
# is set up exactly as the README's `sudo make setup` sets up a host.
#
#   setup-host.sh [STEP...]    (no STEP: deps install)
#
#   deps       the Debian packages the build and the tests need (as root)
#   install    a virtual environment in $VENV (Debian 12 refuses system-wide
#              pip, PEP 668), minipod built into it with `pip install .`
#              (what it needs to run, nothing else), and `minipod` linked on
#              root's PATH, and under systemd the supervisor's unit
#              (systemd/minipod@.service); EXTRAS=test,lint adds the
#              developers' extras (`make test` and `make lint` ask for theirs)
#   lint-deps  what `make lint` needs besides the venv: shellcheck, and
#              vagrant for `vagrant validate` (CI installs them; the VM and
#              `make setup` do not)
#   apt-packages  prints the packages of `deps`, one a line, and changes
#              nothing (scripts/vm/ bakes them into the test guest's image)
#
# Environment: VENV (default /opt/minipod/venv), PYTHON (default
# /usr/bin/python3). The distribution's interpreter is the one python3-venv
# and python3-dev below are for, wherever PATH finds another python3 first
# (pyenv's, say). Debian's and Ubuntu's builds are also the fast ones (PGO,
# LTO, libpython linked in): on our machines the `minipod` command starts
# ~1.5 ms sooner, and the supervisor runs faster, than with a pyenv-style
# --enable-shared build without PGO (BENCHMARKS.md).
set -euo pipefail

# gcc and python3-dev build minipod's C (the cffi extension), against
# libseccomp (the containers' seccomp filters); busybox-static makes the
# image; musl-tools makes pause tiny; skopeo pulls images (kernel/pull.py).
# The tests also run Debian's docker-registry (the CNCF distribution
# registry) on loopback and make a Debian rootfs with mmdebstrap.
# nftables: libnftables for Services and hostPorts (and nft, to look at them);
# iproute2: `ip`, which the network tests use to make their namespaces.
APT_PACKAGES=(python3 python3-venv python3-dev gcc libc6-dev musl-tools make
              libseccomp-dev busybox-static util-linux procps nftables iproute2 skopeo
              docker-registry mmdebstrap)
LINT_PACKAGES=(shellcheck vagrant)

VENV=${VENV:-/opt/minipod/venv}
PYTHON=${PYTHON:-/usr/bin/python3}
EXTRAS=${EXTRAS:-}
export DEBIAN_FRONTEND=noninteractive

cd "$(dirname "$0")/.."    # the repository, which `pip install .` builds

need_root() {
    if [ "$(id -u)" != 0 ]; then
        echo "setup-host.sh $1: run as root (sudo make setup)" >&2
        exit 1
    fi
}

# Shows a command, as make would, then runs it.
run() {
    echo "$*"
    "$@"
}

# Prints those of the packages "$@" that are not installed.
missing() {
    local pkg
    for pkg in "$@"; do
        if [ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null)" != "install ok installed" ]; then
            echo "$pkg"
        fi
    done
}

# apt-get runs only when a package is missing, so a set-up host needs no
# network.
deps() {
    need_root deps
    local todo
    mapfile -t todo < <(missing "${APT_PACKAGES[@]}")
    if [ ${#todo[@]} -gt 0 ]; then
        run apt-get update -qq
        run apt-get install -y -qq "${todo[@]}"
    fi
    # docker-registry is for the tests, which start their own on loopback:
    # where systemd started the package's service (port 5000, every
    # address), it is stopped and disabled (only where systemd runs: on a
    # host without it, systemctl can disable but not stop, and fails)
    if [ -d /run/systemd/system ] && systemctl is-enabled --quiet docker-registry 2>/dev/null
    then
        run systemctl disable --now docker-registry
    fi
}

lint_deps() {
    need_root lint-deps
    local todo
    mapfile -t todo < <(missing "${LINT_PACKAGES[@]}")
    if [ ${#todo[@]} -gt 0 ]; then
        # vagrant recommends a provider plugin and a hypervisor;
        # `vagrant validate` needs neither.
        run apt-get update -qq
        run apt-get install -y -qq --no-install-recommends "${todo[@]}"
    fi
}

# True if $VENV exists and was made by $PYTHON.
venv_of_python() {
    [ -x "$VENV/bin/python" ] || return 1
    local prefix='import sys; print(sys.base_prefix, sys.version_info[:2])'
    [ "$("$VENV/bin/python" -c "$prefix")" = "$("$PYTHON" -c "$prefix")" ]
}

install_minipod() {
    if ! venv_of_python; then
        # --clear: a venv another interpreter made is made anew
        run "$PYTHON" -m venv --clear "$VENV"
    fi
    run "$VENV/bin/pip" install -q --upgrade pip
    if [ -n "$EXTRAS" ]; then
        run "$VENV/bin/pip" install -q ".[$EXTRAS]"
    else
        run "$VENV/bin/pip" install -q .
    fi
    run ln -sf "$VENV/bin/minipod" /usr/local/bin/minipod
    # the background supervisor's unit, where systemd is PID 1 (it runs there
    # in a cgroup subtree systemd delegates to it: README, "Cgroups")
    if [ -d /run/systemd/system ]; then
        run install -m 0644 systemd/minipod@.service /etc/systemd/system/minipod@.service
        run systemctl daemon-reload
    fi
}

if [ $# -eq 0 ]; then
    set -- deps install
fi
for step in "$@"; do
    case $step in
        deps) deps ;;
        install) install_minipod ;;
        lint-deps) lint_deps ;;
        apt-packages) printf '%s\n' "${APT_PACKAGES[@]}" ;;
        *) echo "setup-host.sh: unknown step '$step' (deps, install, lint-deps, apt-packages)" >&2; exit 2 ;;
    esac
done
