"""Network tests run in a network namespace of their own.

make_netns() makes one (`ip netns add`, a unique name, loopback up); the
`netpod` fixture (tests/kernel/conftest.py) runs every `minipod` of the test
in it with the pod network on, so the bridge, the pods' veths, routes and
nftables rules are made there. At the end the test's daemon is stopped (the
network is removed with it), the namespace is checked to be as it was made
(loopback only: no link, address, route or nftables table left), and
removed. Traffic goes only to addresses inside that namespace.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import psutil
from podtest import Minipod, wait_for

CLIENT = Path(__file__).resolve().parents[2] / "benchmarks" / "netclient.py"


def make_netns() -> str:
    name = f"mpt-{uuid.uuid4().hex[:10]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
    return name


def remove_netns(name: str) -> None:
    subprocess.run(["ip", "netns", "del", name], check=False)


def in_netns(name: str, *argv: str, timeout: float = 30, check: bool = True,
             env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(["nsenter", f"--net=/run/netns/{name}", *argv], capture_output=True,
                         text=True, timeout=timeout, env=env)
    if check:
        assert out.returncode == 0, f"{argv}: {out.stderr}"
    return out


def links(name: str) -> list[str]:
    data = json.loads(in_netns(name, "ip", "-j", "link", "show").stdout or "[]")
    return sorted(link["ifname"] for link in data)


def addresses(name: str) -> list[str]:
    data = json.loads(in_netns(name, "ip", "-j", "addr", "show").stdout or "[]")
    return sorted(f"{a['local']}/{a['prefixlen']}" for link in data
                  for a in link.get("addr_info", []) if link["ifname"] != "lo")


def routes(name: str) -> list[str]:
    """Every route of every table, but those the kernel keeps for loopback."""
    data = json.loads(in_netns(name, "ip", "-j", "route", "show", "table", "all").stdout
                      or "[]")
    return sorted(f"{r.get('type', 'unicast')} {r['dst']} dev {r.get('dev')}" for r in data
                  if r.get("dev") != "lo")


def nft_ruleset(name: str) -> str:
    return in_netns(name, "nft", "list", "ruleset").stdout


def assert_netns_clean(name: str) -> None:
    assert links(name) == ["lo"], f"links left: {links(name)}"
    assert addresses(name) == [], f"addresses left: {addresses(name)}"
    assert routes(name) == [], f"routes left: {routes(name)}"
    assert nft_ruleset(name).strip() == "", f"nftables left: {nft_ruleset(name)}"


def daemon_pid(mp: Minipod) -> int | None:
    path = mp.root / "supervisors" / "daemon.sock"
    if not path.exists():
        return None
    from minipod.server.client import request  # the test's own copy of the client

    try:
        answer = request(path, {"op": "ping"}, timeout=5)
    except (OSError, ValueError):
        return None
    pid = answer.get("pid")
    return pid if isinstance(pid, int) else None


def stop_daemon(mp: Minipod, timeout: float = 30) -> None:
    """SIGTERM to the test's daemon: it stops what is left and, the last
    user of the network, removes it; wait until it is gone."""
    pid = daemon_pid(mp)
    if pid is None:
        return
    try:
        proc = psutil.Process(pid)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout)
    except psutil.NoSuchProcess:
        pass


def pod_ip(mp: Minipod, name: str, namespace: str = "default") -> str:
    record = wait_for(lambda: mp.pod_record(name, namespace), 10, f"pod {name}")
    ip: str = record["network"]["ip"]
    return ip


def service_record(mp: Minipod, name: str, namespace: str = "default") -> dict[str, Any]:
    path = mp.root / "services" / f"{namespace}_{name}.json"
    record: dict[str, Any] = wait_for(lambda: path.exists() and json.loads(path.read_text()),
                                      10, f"service {name}")
    return record


def endpoints(mp: Minipod, name: str, namespace: str = "default") -> list[dict[str, Any]]:
    path = mp.root / "endpoints" / f"{namespace}_{name}.json"
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    return [e for found in record["ports"].values() for e in found]


def http_get(netns: str, url: str, timeout: float = 5, retry: float = 5) -> str:
    """A GET from the test's namespace (busybox wget: no proxy, no cache),
    tried again for ``retry`` seconds: a container that runs may not listen yet."""
    deadline = time.monotonic() + retry
    while True:
        out = in_netns(netns, "busybox", "wget", "-q", "-O-", url,  # -T crashes 1.35
                       timeout=timeout + 5, check=False)
        if out.returncode == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert out.returncode == 0, f"GET {url}: {out.stderr}"
    return out.stdout


class Client:
    """tests/support/netclient.py running in the test's namespace: requests
    in a loop until stopped, then a JSON summary of what answered."""

    def __init__(self, netns: str, host: str, port: int, gap: float = 0.002) -> None:
        self.proc = subprocess.Popen(
            ["nsenter", f"--net=/run/netns/{netns}", sys.executable,
             str(CLIENT), host, str(port), str(gap)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        ready = self.proc.stdout.readline()  # "ready" once its first request is answered
        assert ready.strip() == "ready", ready + (self.proc.stderr.read()
                                                  if self.proc.stderr else "")

    def finish(self) -> dict[str, Any]:
        self.proc.send_signal(signal.SIGTERM)
        out, err = self.proc.communicate(timeout=30)
        assert self.proc.returncode == 0, err
        result: dict[str, Any] = json.loads(out)
        return result


def wait_for_endpoints(mp: Minipod, service: str, count: int, timeout: float = 20) -> None:
    wait_for(lambda: len([e for e in endpoints(mp, service) if e["ready"]]) == count, timeout,
             f"{count} ready endpoints of {service}")


def since(start: float) -> float:
    return time.monotonic() - start


__all__ = ["Client", "addresses", "assert_netns_clean", "daemon_pid", "endpoints",
           "http_get", "in_netns", "links", "make_netns", "nft_ruleset", "pod_ip",
           "remove_netns", "routes", "service_record", "since", "stop_daemon",
           "wait_for_endpoints"]
