"""The pod network's figures (`--only network`), every one inside a network
namespace the suite makes for it (and removes), so that the bridge, the
veths, the nftables rules, podman's bridge and every packet stay there.

- pod start with and without the pod network, taking turns (two supervisors,
  one with MINIPOD_POD_NETWORK=none), beside podman's `run` and `kube play`
  on its bridge network;
- pause alone with and without --net (its veth pair, eth0 and route, made in
  C), and the same work done with pyroute2 from one process (what a
  supervisor would pay per pod if it did it itself);
- Service failover: a client sends a request every ~millisecond to a
  Service over two replicas; one replica's server is killed; the figure is
  the time from the kill to the end of the last failed request (traffic
  reaching the other replica only), and how many requests failed;
- a request's wall time through the pod's address, a hostPort (nftables
  DNAT), a Service's address (DNAT) and port-forward (a userspace relay with
  splice), which is how hostPort's mechanism was chosen.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from benchmarks import manifests as mf
from benchmarks.config import Config
from benchmarks.execwatch import ExecWatcher
from benchmarks.figures import delete_pod, guard, start_pods
from benchmarks.harness import BenchError, Minipod, wait_until
from benchmarks.results import Comparison, Figure

HERE = Path(__file__).parent  # netclient.py


class NetNs:
    """A network namespace of the suite's own, loopback up."""

    def __init__(self) -> None:
        self.name = f"mpbench-{uuid.uuid4().hex[:8]}"
        subprocess.run(["ip", "netns", "add", self.name], check=True)
        subprocess.run(["ip", "-n", self.name, "link", "set", "lo", "up"], check=True)

    def prefix(self) -> list[str]:
        return ["nsenter", f"--net=/run/netns/{self.name}"]

    def run(self, *argv: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*self.prefix(), *argv], capture_output=True, text=True,
                              timeout=timeout)

    def close(self) -> None:
        subprocess.run(["ip", "netns", "del", self.name], check=False)


class NetMinipod(Minipod):
    """minipod in the suite's namespace, with or without the pod network."""

    def __init__(self, work: Path, images: Path, netns: NetNs, network: bool,
                 python: str = sys.executable) -> None:
        super().__init__(work, python)
        work.mkdir(parents=True, exist_ok=True)
        self.images = images
        self.netns = netns
        self.network = network
        (work / "resolv.conf").write_text("")  # no resolver: nothing is forwarded anywhere

    @property
    def env(self) -> dict[str, str]:
        return dict(super().env, MINIPOD_POD_NETWORK="bridge" if self.network else "none",
                    MINIPOD_RESOLV_CONF=str(self.work / "resolv.conf"))

    def command(self, *args: str) -> list[str]:
        return [*self.netns.prefix(), *super().command(*args)]


def network_figures(mp: Minipod, watcher: ExecWatcher, cfg: Config, peer: Any | None
                    ) -> list[Figure]:
    netns = NetNs()
    on = NetMinipod(mp.work / "net-on", mp.images, netns, True, mp.python)
    off = NetMinipod(mp.work / "net-off", mp.images, netns, False, mp.python)
    figures: list[Figure] = []
    try:
        for target in (on, off):
            keeper = mf.pod("net-keeper")
            start_pods(target, watcher, target.write("keeper.yaml", mf.documents(keeper)),
                       [keeper])
            target.supervisor("net-keeper")  # so that stop_daemon() ends it
        figures += guard("network.start", "Pod start on the pod network", "ms",
                         lambda: start_figures(on, off, watcher, cfg, netns=netns, peer=peer))
        figures += guard("network.pause", "pause with --net", "ms",
                         lambda: pause_figures(netns, cfg))
        figures += guard("network.failover", "Service failover", "ms",
                         lambda: failover_figures(on, netns, cfg))
        figures += guard("network.request", "Requests through each path", "ms",
                         lambda: path_figures(on, netns, cfg))
    finally:
        # SIGTERM to each daemon deletes its Deployment, Services and pods, and
        # the last one removes the network; only then does the namespace go
        for target in (on, off):
            with contextlib.suppress(Exception):
                target.stop_daemon()
        netns.close()
    return figures


# -- pod start ---------------------------------------------------------------------------
def start_figures(on: NetMinipod, off: NetMinipod, watcher: ExecWatcher, cfg: Config, *,
                  netns: NetNs, peer: Any | None) -> list[Figure]:
    with_net: list[float] = []
    without: list[float] = []
    for i in range(cfg.runs):
        for target, samples in ((off, without), (on, with_net)):
            name = f"net-start-{'on' if target.network else 'off'}-{i}"
            manifest = mf.pod(name)
            path = target.write(f"{name}.yaml", mf.documents(manifest))
            begin, _end, last, _pids = start_pods(target, watcher, path, [manifest])
            samples.append((last - begin) * 1000)
            delete_pod(target, name)
    run_peer = podman_run = None
    if peer is not None:
        run_peer, podman_run = podman_bridge(peer, netns, watcher, cfg)
    return [
        Figure("network.start.off", "Pod start, 1 container, pod network off", "ms", without,
               how="as start.one, with MINIPOD_POD_NETWORK=none (loopback only), taking "
                   "turns with network.start.on, both in the suite's network namespace"),
        Figure("network.start.on", "Pod start, 1 container, on the pod network", "ms", with_net,
               baseline=Comparison("the same with the pod network off", without, paired=True),
               peer=run_peer,
               how="as start.one: an address claimed, the veth pair, eth0 and its route made "
                   "by pause (--net), the pod's resolv.conf for cluster DNS"),
        *([Figure("network.start.podman_run", "podman run on its bridge network", "ms",
                  with_net, peer=podman_run,
                  how="minipod's figure is network.start.on's; the peer's is `podman run "
                      "-d --network bridge` to the exec of its container")]
          if podman_run is not None else []),
    ]


def podman_bridge(peer: Any, netns: NetNs, watcher: ExecWatcher, cfg: Config
                  ) -> tuple[Comparison, Comparison]:
    """podman on its bridge network, inside the suite's namespace: `kube play`
    of the same pod, and `podman run` of its container."""
    label = f"{peer.label} --network bridge"
    plays: list[float] = []
    runs: list[float] = []
    original = peer.argv

    def argv(*args: str) -> list[str]:
        found: list[str] = original(*args)
        return [*found[:4], f"--net=/run/netns/{netns.name}", *found[4:]]

    peer.argv = argv
    try:
        for i in range(cfg.peer_runs):
            manifest = mf.pod(f"peer-net-{i}")
            path = peer.write(manifest)
            begin, _end, _out = peer.timed("kube", "play", "--network", "bridge", str(path))
            try:
                pids = peer.pids(manifest)
                plays.append((max(watcher.wait_exec(p, begin) for p in pids.values())
                              - begin) * 1000)
            finally:
                peer.run("kube", "down", str(path), check=False)
            peer.settle()
            name = f"peer-run-{i}"
            begin, _end, _out = peer.timed("run", "-d", "--name", name, "--network", "bridge",
                                           mf.IMAGE, *mf.TERM_EXITS)
            try:
                pid = int(peer.run("inspect", "--format", "{{.State.Pid}}", name).stdout)
                runs.append((watcher.wait_exec(pid, begin) - begin) * 1000)
            finally:
                peer.run("rm", "-f", "-t", "0", name, check=False)
            peer.settle()
        return (Comparison(f"{label} kube play", plays, paired=True),
                Comparison("podman run --network bridge", runs, paired=True))
    except Exception as e:
        return (Comparison(f"{label} kube play", plays, error=str(e)),
                Comparison("podman run --network bridge", runs, error=str(e)))
    finally:
        peer.argv = original
        peer.run("network", "prune", "-f", check=False)


# -- pause alone, and pyroute2 for the same work --------------------------------------------
PAUSE_TIMER = r"""
import json, os, signal, sys, time
pause, runs = sys.argv[1], int(sys.argv[2])
def spawn(net, i):
    r, w = os.pipe()
    os.set_inheritable(w, True)
    argv = [pause, "--report", str(w), "--sandbox", "bench"]
    if net:
        argv += ["--net", "mpbench0", f"mpb{i}", f"10.250.{i // 250}.{i % 250 + 2}", "10.250.0.1"]
    t = time.monotonic()
    pid = os.posix_spawn(pause, argv, {})
    os.close(w)
    report = os.read(r, 4096)
    took = (time.monotonic() - t) * 1000
    os.close(r)
    os.kill(pid, signal.SIGTERM)
    os.waitpid(pid, 0)
    if report:
        raise SystemExit(report.decode())
    return took
def pyroute2_work(ipr, bridge, i):
    import subprocess
    from pyroute2 import IPRoute
    holder = subprocess.Popen(["unshare", "--net", "sleep", "60"])
    time.sleep(0.05)
    path = f"/proc/{holder.pid}/ns/net"
    fd = os.open(path, os.O_RDONLY)
    t = time.monotonic()
    ipr.link("add", ifname=f"mpp{i}", kind="veth", master=bridge, state="up",
             peer={"ifname": "eth0", "net_ns_fd": fd})
    with IPRoute(netns=path, flags=0) as pod:
        index = pod.link_lookup(ifname="eth0")[0]
        pod.link("set", index=index, state="up")
        pod.addr("add", index=index, address=f"10.250.9.{i + 2}", prefixlen=32)
        pod.route("add", dst="0.0.0.0/0", gateway="10.250.0.1", oif=index, flags=4)
    took = (time.monotonic() - t) * 1000
    os.close(fd)
    holder.kill(); holder.wait()
    return took
import subprocess
subprocess.run("ip link add mpbench0 type bridge && ip addr add 10.250.0.1/16 dev mpbench0"
               " && ip link set mpbench0 up", shell=True, check=True)
try:
    plain, net = [], []
    for i in range(runs):
        plain.append(spawn(False, i))
        net.append(spawn(True, i))
    t = time.monotonic()
    from pyroute2 import IPRoute
    imported = (time.monotonic() - t) * 1000
    with IPRoute() as ipr:
        bridge = ipr.link_lookup(ifname="mpbench0")[0]
        pyroute2 = [pyroute2_work(ipr, bridge, i) for i in range(min(runs, 50))]
    print(json.dumps({"plain": plain, "net": net, "pyroute2": pyroute2,
                      "import": imported}))
finally:
    subprocess.run(["ip", "link", "del", "mpbench0"])
"""


def pause_figures(netns: NetNs, cfg: Config) -> list[Figure]:
    from minipod.kernel import sandbox  # the installed package's pause

    runs = max(cfg.runs * 4, 8)
    out = netns.run(sys.executable, "-c", PAUSE_TIMER, str(sandbox.PAUSE_BINARY), str(runs))
    if out.returncode != 0:
        raise BenchError(f"pause timing: {out.stderr.strip()[-500:]}")
    found = json.loads(out.stdout)
    return [
        Figure("network.pause.on", "pause ready, with --net (veth pair, eth0, route)", "ms",
               found["net"], baseline=Comparison("pause ready, no --net", found["plain"],
                                                 paired=True),
               how="posix_spawn of pause to the EOF of its report pipe, taking turns with a "
                   "pause without --net, in the suite's namespace"),
        Figure("network.pause.pyroute2", "The same per-pod work with pyroute2, one process",
               "ms", found["pyroute2"],
               how="one IPRoute on the node: the veth pair with its peer in the pod's "
                   "namespace; then IPRoute(netns=...) for eth0 up, its /32 and the default "
                   "route (pyroute2 forks a helper for a netns socket); pyroute2's import, "
                   f"paid once per process, took {found['import']:.0f} ms here",
               extra={"import_ms": found["import"]}),
    ]


# -- Service failover ----------------------------------------------------------------------
SERVICE = """
{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "bench-svc"},
 "spec": {"selector": {"app": "bench-svc"}, "ports": [{"port": 80, "targetPort": 8080}]}}
---
{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "bench-svc"},
 "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "bench-svc"}},
  "template": {"metadata": {"labels": {"app": "bench-svc"}},
   "spec": {"terminationGracePeriodSeconds": 0, "containers": [{"name": "web",
    "image": "localhost/busybox:latest", "command": ["sh", "-c",
    "mkdir -p /w && hostname > /w/index.html && exec httpd -f -p 8080 -h /w"],
    "readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 1}}]}}}}
"""
PATHS = json.dumps({
    "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "bench-paths"},
    "spec": {"terminationGracePeriodSeconds": 0, "containers": [{
        "name": "web", "image": mf.IMAGE, "ports": [{"containerPort": 8080, "hostPort": 18080}],
        "command": ["sh", "-c", "mkdir -p /w && hostname > /w/index.html && "
                    "head -c 33554432 /dev/zero > /w/big && exec httpd -f -p 8080 -h /w"]}]}})


def _ready_endpoints(mp: Minipod) -> list[dict[str, Any]]:
    try:
        record = json.loads((mp.root / "endpoints" / "default_bench-svc.json").read_text())
    except (OSError, ValueError):
        return []
    return [e for found in record["ports"].values() for e in found if e["ready"]]


def failover_figures(mp: NetMinipod, netns: NetNs, cfg: Config) -> list[Figure]:
    # no CrashLoopBackOff: every kill must be followed by an immediate restart
    mp.cli("up", "-d", "--backoff", "0:0", str(mp.write("svc.yaml", SERVICE)))
    wait_until(lambda: len(_ready_endpoints(mp)) == 2 or None, 30, "two ready endpoints")
    vip = json.loads((mp.root / "services" / "default_bench-svc.json").read_text())["clusterIP"]
    gaps: list[float] = []
    failed: list[float] = []
    for _ in range(max(cfg.kills // 5, 3)):
        client = subprocess.Popen([*netns.prefix(), sys.executable,
                                   str(HERE / "netclient.py"), vip, "80", "0.0005"],
                                  stdout=subprocess.PIPE, text=True)
        assert client.stdout is not None
        if client.stdout.readline().strip() != "ready":
            client.kill()
            client.wait()
            raise BenchError("the client got no answer from the Service")
        time.sleep(0.3)
        pod = _ready_endpoints(mp)[0]["pod"]
        record = mp.record(pod) or {}
        pid = record["containers"]["web"]["pid"]
        killed_at = time.monotonic()
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: len(_ready_endpoints(mp)) == 1 or None, 10, "the endpoint out")
        time.sleep(0.3)
        client.send_signal(signal.SIGTERM)
        out, _ = client.communicate(timeout=30)
        result = json.loads(out)
        after = [t for t in result["failures"] if t >= killed_at - 0.001]
        gaps.append(((max(after) if after else killed_at) - killed_at) * 1000)
        failed.append(float(len(after)))
        wait_until(lambda: len(_ready_endpoints(mp)) == 2 or None, 30, "the replica back")
    return [
        Figure("network.failover", "Service: a killed endpoint to traffic on the other one",
               "ms", gaps, extra={"failed_requests": failed},
               how="kill -9 of one of two replicas' server while a client in the namespace "
                   "opens a connection to the Service every 0.5 ms: from the kill to the "
                   "last request that failed (0 when none did); the supervisor hears of the "
                   "exit through the pidfd and rewrites the Service's chain"),
        Figure("network.failover.failed", "Service: requests failed per killed endpoint",
               "requests", failed, how="the failed requests of network.failover, per kill"),
    ]


# -- one request through each path -------------------------------------------------------
REQUEST_TIMER = r"""
import json, socket, sys, time
def get(host, port, path):
    t = time.monotonic()
    with socket.create_connection((host, port), timeout=5) as c:
        c.sendall(f"GET {path} HTTP/1.0\r\n\r\n".encode())
        n = 0
        while (x := c.recv(1 << 16)):
            n += len(x)
    return (time.monotonic() - t) * 1000, n
out = {}
deadline = time.monotonic() + 10
while True:  # the first path is the pod itself: wait until it answers
    try:
        get(*json.loads(sys.argv[1])[0][1:], "/index.html")
        break
    except OSError:
        if time.monotonic() > deadline:
            raise
        time.sleep(0.05)
for label, host, port in json.loads(sys.argv[1]):
    small = [get(host, port, "/index.html")[0] for _ in range(int(sys.argv[2]))]
    took, size = min(get(host, port, "/big") for _ in range(3))
    out[label] = {"small": small, "mb_per_s": size / 1e6 / (took / 1000)}
print(json.dumps(out))
"""


def path_figures(mp: NetMinipod, netns: NetNs, cfg: Config) -> list[Figure]:
    """Through a pod that serves a 32 MB file too (the Service's pods do not)."""
    mp.cli("up", "-d", str(mp.write("paths.yaml", PATHS)))
    mp.wait_running("bench-paths", ["web"])
    ip = wait_until(lambda: (mp.record("bench-paths") or {}).get("network", {}).get("ip"), 10,
                    "the pod's address")
    vip = json.loads((mp.root / "services" / "default_bench-svc.json").read_text())["clusterIP"]
    forward = subprocess.Popen([*mp.command("port-forward", "pod/bench-paths", "28080:8080",
                                            "--address", "127.0.0.1")],
                               cwd=mp.work, env=mp.env, stdout=subprocess.PIPE, text=True)
    try:
        assert forward.stdout is not None
        forward.stdout.readline()
        time.sleep(0.5)  # httpd writes its 32 MB file before it listens
        paths = [("pod address", ip, 8080), ("hostPort (DNAT)", "127.0.0.1", 18080),
                 ("Service address (DNAT)", vip, 80),
                 ("port-forward (splice relay)", "127.0.0.1", 28080)]
        out = netns.run(sys.executable, "-c", REQUEST_TIMER, json.dumps(paths),
                        str(max(cfg.runs * 10, 20)))
        if out.returncode != 0:
            raise BenchError(f"request timing: {out.stderr.strip()[-500:]}")
        found = json.loads(out.stdout)
    finally:
        forward.send_signal(signal.SIGINT)
        forward.wait(timeout=10)
        if forward.stdout:
            forward.stdout.close()
    direct = found["pod address"]["small"]
    figures = []
    for key, label in (("hostport", "hostPort (DNAT)"), ("service", "Service address (DNAT)"),
                       ("portforward", "port-forward (splice relay)")):
        figures.append(Figure(
            f"network.request.{key}", f"One small GET through {label}", "ms",
            found[label]["small"],
            baseline=Comparison("the pod's address", direct, paired=True),
            extra={"mb_per_s": found[label]["mb_per_s"],
                   "direct_mb_per_s": found["pod address"]["mb_per_s"]},
            how="a new TCP connection, GET of a small file from busybox httpd and its end, "
                "from the suite's namespace; extra: MB/s of a 32 MB file"))
    figures.append(Figure(
        "network.throughput", "32 MB through a hostPort, MB/s of a port-forward's", "MB/s",
        [found["hostPort (DNAT)"]["mb_per_s"]],
        baseline=Comparison("port-forward (splice relay)",
                            [found["port-forward (splice relay)"]["mb_per_s"]]),
        how="the best of three GETs of a 32 MB file"))
    return figures


__all__ = ["network_figures"]
