# minipod developer entry point. `sudo make demo` and `sudo make test` do all
# set-up on a fresh Debian 12 / Ubuntu 24.04 host.

PYTHON  ?= python3
VENV    ?= /opt/minipod/venv
BIN     := $(VENV)/bin
APT_PACKAGES := python3 python3-venv python3-dev gcc libc6-dev musl-tools make \
                libcap-dev busybox-static util-linux procps

.PHONY: setup deps install image demo test test-unit test-kernel lint bench clean

setup: deps install

# Debian packages the build and the tests need (python-prctl builds against
# libcap; busybox-static makes the image; musl-tools makes pause tiny).
deps:
	@test "$$(id -u)" = 0 || { echo "run as root: sudo make $@"; exit 1; }
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

# A virtual environment (Debian 12 and Ubuntu 24.04 refuse system-wide pip,
# PEP 668), the package built into it, and `minipod` on root's PATH.
install:
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q '.[test]'
	ln -sf $(BIN)/minipod /usr/local/bin/minipod

image: setup
	$(BIN)/minipod image build-busybox
	$(BIN)/minipod image ls

demo: image
	$(BIN)/minipod validate examples/demo.yaml
	$(BIN)/minipod up examples/demo.yaml

test: setup
	MINIPOD_TESTS_MUST_RUN=1 $(BIN)/pytest tests

test-unit:
	$(BIN)/pytest tests/unit

test-kernel: setup
	MINIPOD_TESTS_MUST_RUN=1 $(BIN)/pytest tests/kernel

lint:
	$(BIN)/ruff check minipod tests benchmarks
	$(BIN)/mypy minipod
	gcc -fsyntax-only -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
	    -Wmissing-prototypes -Wformat=2 csrc/pause.c csrc/mp_sys.c csrc/mp_exec.c

bench: setup
	$(BIN)/python benchmarks/run.py --output BENCHMARKS.md

clean:
	rm -rf build dist *.egg-info minipod/_native* minipod/libexec .pytest_cache .mypy_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
