# minipod developer entry point. `sudo make demo` and `sudo make test` do all
# set-up on a fresh Debian 12 host.

# the distribution's interpreter, the one deps installs venv and headers for
# (scripts/setup-host.sh says why, and not a python3 found first in PATH)
PYTHON  ?= /usr/bin/python3
VENV    ?= /opt/minipod/venv
BIN     := $(VENV)/bin
VAGRANT ?= vagrant
# where vagrant/Vagrantfile puts the repository in the VM
VAGRANT_REPO := /home/vagrant/minipod
SETUP_HOST := VENV=$(VENV) PYTHON=$(PYTHON) bash scripts/setup-host.sh

.PHONY: setup setup-test setup-lint deps install lint-deps image demo test test-unit \
        test-kernel test-vm lint bench clean vagrant-up vagrant-test vagrant-demo \
        reliability reliability-long

# Debian packages, a venv with minipod built into it (its runtime
# dependencies only), `minipod` on root's PATH: scripts/setup-host.sh, which
# also provisions the Vagrant VM.
setup:
	$(SETUP_HOST) deps install

# the same, with the test runner (make test) or the linters (make lint)
setup-test:
	EXTRAS=test $(SETUP_HOST) deps install

setup-lint:
	EXTRAS=test,lint $(SETUP_HOST) install

# Only the Debian packages the build and the tests need (as root).
deps:
	$(SETUP_HOST) deps

# Only the venv, `pip install .` and the /usr/local/bin link.
install:
	$(SETUP_HOST) install

# shellcheck and vagrant, for `make lint` (as root; CI runs it).
lint-deps:
	$(SETUP_HOST) lint-deps

image: setup
	$(BIN)/minipod image build-busybox
	$(BIN)/minipod image ls

demo: image
	$(BIN)/minipod validate examples/demo.yaml
	$(BIN)/minipod up examples/demo.yaml

# examples/testing: the minipod.testing examples of the README, run as a reader would
test: setup-test
	MINIPOD_TESTS_MUST_RUN=1 $(BIN)/pytest tests examples/testing

test-unit:
	$(BIN)/pytest tests/unit

test-kernel: setup-test
	MINIPOD_TESTS_MUST_RUN=1 $(BIN)/pytest tests/kernel

# The kernel tests that run in a Debian 12 guest with systemd as PID 1 on
# cgroup v2 (scripts/vm/test-vm.sh; README "Tests on a standard host"). A test
# file joins the default selection by being added to this line; one run can
# choose others: make test-vm VM_TESTS='tests/kernel/test_pod.py -k restart'
VM_TESTS ?= tests/kernel/test_pause.py tests/kernel/test_pod.py tests/kernel/test_cgroups.py \
            tests/kernel/test_isolation.py tests/kernel/test_testing.py examples/testing

# deps: the host's compiler builds minipod's wheel for the guest; the script
# installs qemu and mmdebstrap itself.
test-vm: deps
	PYTHON=$(PYTHON) bash scripts/vm/test-vm.sh $(VM_TESTS)

# The reliability suite (RELIABILITY.md): SIGKILL of the supervisor at every
# step of `up -d` and `delete`, a soak with leak accounting, a full file
# system, a manifest fuzzer. `make test` (and so CI) runs its short version;
# reliability-long is the release run, whose figures go to RELIABILITY.json.
reliability: setup-test
	MINIPOD_TESTS_MUST_RUN=1 $(BIN)/pytest tests/reliability

reliability-long: setup-test
	rm -f RELIABILITY.json
	MINIPOD_TESTS_MUST_RUN=1 MINIPOD_RELIABILITY=long MINIPOD_RELIABILITY_REPORT=$(CURDIR)/RELIABILITY.json \
	  $(BIN)/pytest tests/reliability tests/unit/test_supervisor.py

lint: setup-lint
	$(BIN)/ruff check minipod tests benchmarks examples/testing
	$(BIN)/mypy minipod
	gcc -fsyntax-only -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
	    -Wmissing-prototypes -Wformat=2 csrc/pause.c csrc/mp_sys.c csrc/mp_exec.c \
	    csrc/mp_start.c csrc/mp_probe.c csrc/mp_prober.c csrc/mp_cgroup.c csrc/mp_seccomp.c
	musl-gcc -fsyntax-only -Wall -Wextra -Werror tests/helpers/escape.c
	@command -v shellcheck >/dev/null && command -v $(VAGRANT) >/dev/null || \
	  { echo "lint needs shellcheck and vagrant: sudo make lint-deps"; exit 1; }
	shellcheck scripts/setup-host.sh scripts/vm/*.sh .ci/run
# Without a hypervisor no provider is usable, so the provider blocks are
# not validated (--ignore-provider); the rest of the Vagrantfile is.
	cd vagrant && VAGRANT_CHECKPOINT_DISABLE=1 $(VAGRANT) validate --ignore-provider

# BENCHMARKS.md and BENCHMARKS.json (benchmarks/run.py; --smoke for a quick check):
# minipod beside podman kube play (Debian's podman and runc; private storage
# and config) and the kernel floor, in one run.
# BASELINE=/path/to/venv/bin/python: instead of podman, start, stop and restart
# measured beside the minipod of that interpreter, run for run
# (benchmarks/baseline.py), to BENCHMARKS-baseline.md
bench: setup
	@command -v podman >/dev/null && command -v runc >/dev/null || { apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman runc; }
	$(BIN)/python -P benchmarks/run.py \
	    $(if $(BASELINE),--baseline $(BASELINE) --output BENCHMARKS-baseline.md,--peers --output BENCHMARKS.md)

# the same (its former name)
.PHONY: bench-peers
bench-peers: bench

clean:
	rm -rf build dist *.egg-info minipod/kernel/_native* minipod/libexec .pytest_cache .mypy_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

# The Vagrant VM (vagrant/README.md): a Debian 12 VM provisioned by
# scripts/setup-host.sh. vagrant-test and vagrant-demo copy the current tree
# into it first (rsync), then run the README's commands there.
vagrant-up:
	cd vagrant && $(VAGRANT) up

vagrant-test: vagrant-up
	cd vagrant && $(VAGRANT) rsync && $(VAGRANT) ssh -c 'cd $(VAGRANT_REPO) && sudo make test'

vagrant-demo: vagrant-up
	cd vagrant && $(VAGRANT) rsync && $(VAGRANT) ssh -c 'cd $(VAGRANT_REPO) && sudo make demo'
