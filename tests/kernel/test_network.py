"""The pod network for real, each test in a network namespace of its own
(the `netpod` fixture): pod addresses, host -> pod and pod -> pod, hostPort,
port-forward, Services over a Deployment while its replicas die, cluster DNS
from inside a pod, readiness moving endpoints, teardown after a crash.
Traffic goes only to addresses inside the test's namespace."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from nettest import (
    Client,
    addresses,
    endpoints,
    http_get,
    in_netns,
    links,
    nft_ruleset,
    pod_ip,
    service_record,
    stop_daemon,
    wait_for_endpoints,
)
from podtest import Minipod, unique_name, wait_for

pytestmark = pytest.mark.root

HTTPD = 'mkdir -p /www && echo "{body}" > /www/index.html && exec httpd -f -p {port} -h /www'


def server_pod(name: str, body: str | None = None, port: int = 8080, labels: str = "",
               extra: str = "") -> str:
    command = HTTPD.format(body=body or name, port=port)
    return f"""
apiVersion: v1
kind: Pod
metadata:
  name: {name}
  labels: {{{labels}}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: web
    image: busybox
    command: [sh, -c, '{command}']
    ports: [{{containerPort: {port}, name: http}}]{extra}
"""


def container_pid(mp: Minipod, pod: str, container: str) -> int:
    record = mp.wait_running(pod, [container])
    pid: int = record["containers"][container]["pid"]
    return pid


def in_pod(mp: Minipod, pod: str, container: str, script: str) -> str:
    return mp.exec_in(container_pid(mp, pod, container), "sh", "-c", script)


def up(mp: Minipod, text: str, name: str = "pod.yaml") -> str:
    out = mp.run("up", "-d", str(mp.manifest(text, name)))
    assert out.returncode == 0, out.stderr
    return out.stdout


# -- pods on the bridge ----------------------------------------------------------------


def test_pods_get_addresses_and_reach_each_other_and_the_node(netpod: Minipod) -> None:
    a, b = unique_name("a"), unique_name("b")
    sidecar = """
  - name: local
    image: busybox
    command: [sh, -c, 'sleep 3600']
    env:
    - {name: MY_IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}
    - {name: MY_IPS, valueFrom: {fieldRef: {fieldPath: status.podIPs}}}
    - {name: MY_HOST, valueFrom: {fieldRef: {fieldPath: status.hostIP}}}
    - {name: MY_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
    - {name: GREETING, value: "pod $(MY_NAME) at $(MY_IP)"}"""
    up(netpod, server_pod(a, extra=sidecar) + "---\n" + server_pod(b))
    ip_a, ip_b = pod_ip(netpod, a), pod_ip(netpod, b)
    assert ip_a != ip_b
    assert re.fullmatch(r"10\.\d+\.\d+\.\d+", ip_a)
    netpod.wait_running(a, ["web", "local"])
    netpod.wait_running(b, ["web"])
    # the node reaches each pod at its address
    assert http_get(netpod.netns or "", f"http://{ip_a}:8080/").strip() == a
    assert http_get(netpod.netns or "", f"http://{ip_b}:8080/").strip() == b
    # a pod reaches another; its containers still share loopback
    assert in_pod(netpod, a, "local", f"wget -q -O- http://{ip_b}:8080/").strip() == b
    assert in_pod(netpod, a, "local", "wget -q -O- http://127.0.0.1:8080/").strip() == a
    # eth0 has the address (a /32, routed through the node), lo stays as it was
    shown = in_pod(netpod, a, "local", "ip -o -4 addr show; ip route")
    assert f"eth0    inet {ip_a}/32" in shown.replace("\\", "")
    assert "inet 127.0.0.1/8" in shown and "default via" in shown
    # status, get -o wide, describe, the hosts file and the downward API
    record = netpod.pod_record(a) or {}
    assert record["object"]["status"]["podIP"] == ip_a
    assert record["object"]["status"]["podIPs"] == [{"ip": ip_a}]
    wide = netpod.run("get", "pods", a, "-o", "wide").stdout
    assert ip_a in wide.splitlines()[1].split()
    described = netpod.run("describe", "pod", a).stdout
    assert re.search(rf"^IP:\s+{re.escape(ip_a)}$", described, re.M)
    assert f"{ip_a}\t{a}" in in_pod(netpod, a, "local", "cat /etc/hosts")
    env = in_pod(netpod, a, "local", "cat /proc/1/environ | tr '\\0' '\\n'")
    assert f"MY_IP={ip_a}" in env and f"GREETING=pod {a} at {ip_a}" in env
    assert f"MY_IPS={ip_a}" in env
    # status.hostIP: an address of the node (here the test's namespace)
    host_ip = re.search(r"^MY_HOST=(.*)$", env, re.M)
    assert host_ip is not None and host_ip.group(1) in \
        [a.split("/")[0] for a in addresses(netpod.netns or "")]
    # the node's end of each pod's veth pair is on the bridge
    veths = [name for name in links(netpod.netns or "") if name.startswith("mp")]
    assert len(veths) == 2
    assert record["network"]["veth"] in veths


def test_sysctls_of_a_pod_on_the_bridge(netpod: Minipod) -> None:
    """pause sets the pod's sysctls after it has made eth0 (--net, then
    --sysctl): one of eth0's own is found, the pod's redirects stay off, and
    the node's namespace (the test's) keeps its values."""
    name = unique_name("sysctl")
    node_ports = in_netns(netpod.netns or "", "cat",
                          "/proc/sys/net/ipv4/ip_unprivileged_port_start").stdout
    up(netpod, server_pod(name) + """
  securityContext:
    sysctls:
    - {name: net.ipv4.conf.eth0.arp_ignore, value: "1"}
    - {name: net.ipv4.ip_unprivileged_port_start, value: "80"}
""")
    ip = pod_ip(netpod, name)
    assert http_get(netpod.netns or "", f"http://{ip}:8080/").strip() == name
    shown = in_pod(netpod, name, "web", "cd /proc/sys/net/ipv4 && cat conf/eth0/arp_ignore "
                   "ip_unprivileged_port_start conf/all/accept_redirects")
    assert shown.split() == ["1", "80", "0"], shown
    assert in_netns(netpod.netns or "", "cat",
                    "/proc/sys/net/ipv4/ip_unprivileged_port_start").stdout == node_ports


def test_a_failed_start_gives_its_address_back(netpod: Minipod) -> None:
    name = unique_name("fail")
    manifest = f"""
apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  containers:
  - {{name: c, image: busybox, command: [sleep, '60'],
     volumeMounts: [{{name: h, mountPath: /h}}]}}
  volumes: [{{name: h, hostPath: {{path: /no/such/dir, type: Directory}}}}]
"""
    out = netpod.run("up", "-d", str(netpod.manifest(manifest)))
    assert out.returncode == 1 and "/no/such/dir" in out.stderr
    claims = netpod.root / "network" / "pod-ips"
    assert not claims.exists() or list(claims.iterdir()) == []
    assert [n for n in links(netpod.netns or "") if n.startswith("mp")] == []


# -- hostPort and port-forward ---------------------------------------------------------


def test_host_port_forwards_and_conflicts_are_refused(netpod: Minipod) -> None:
    first, second, third = unique_name("hp"), unique_name("hp"), unique_name("hp")
    ports = "\n    ports: [{containerPort: 8080, hostPort: 18081}]"
    up(netpod, server_pod(first).replace("\n    ports: [{containerPort: 8080, name: http}]",
                                         ports), "first.yaml")
    netpod.wait_running(first, ["web"])
    netns = netpod.netns or ""
    # every address of the node: its loopback, and the bridge's address
    assert http_get(netns, "http://127.0.0.1:18081/").strip() == first
    gateway = json.loads((netpod.root / "network" / "config.json").read_text())["gateway"]
    assert http_get(netns, f"http://{gateway}:18081/").strip() == first
    # the same port again: the kubelet's NodePorts rejection, nothing started
    out = netpod.run("up", "-d", str(netpod.manifest(
        server_pod(second).replace("\n    ports: [{containerPort: 8080, name: http}]", ports),
        "second.yaml")))
    assert out.returncode == 1
    assert "Predicate NodePorts failed: node(s) didn't have free ports for the requested " \
           "pod ports" in out.stderr
    assert netpod.pod_record(second) is None
    # a UDP port of the same number is another port
    udp = "\n    ports: [{containerPort: 8080, hostPort: 18081, protocol: UDP}]"
    up(netpod, server_pod(third).replace("\n    ports: [{containerPort: 8080, name: http}]",
                                         udp), "third.yaml")
    netpod.wait_running(third, ["web"])
    assert "hostports-any" in nft_ruleset(netns) and "udp . 18081" in nft_ruleset(netns)
    netpod.run("delete", "pod", first, "--now")
    assert "tcp . 18081" not in nft_ruleset(netns)


def test_port_forward_serves_many_connections_and_stops_on_ctrl_c(netpod: Minipod) -> None:
    name = unique_name("pf")
    # a second server bound to the pod's loopback only: port-forward reaches it
    extra = """
  - name: inner
    image: busybox
    command: [sh, -c, 'mkdir -p /w && echo inner > /w/index.html && exec httpd -f -p 127.0.0.1:9090 -h /w']"""
    up(netpod, server_pod(name, extra=extra))
    netpod.wait_running(name, ["web", "inner"])
    proc = subprocess.Popen([*netpod.prefix(), sys.executable, "-m", "minipod", "port-forward",
                             f"pod/{name}", ":8080", "19090:9090"], cwd=netpod.workdir,
                            env=netpod.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(4)]
        found = re.match(r"Forwarding from 127\.0\.0\.1:(\d+) -> 8080", lines[0])
        assert found, lines
        assert lines[1] == f"Forwarding from [::1]:{found[1]} -> 8080\n"
        assert lines[2:] == ["Forwarding from 127.0.0.1:19090 -> 9090\n",
                             "Forwarding from [::1]:19090 -> 9090\n"]
        port = int(found[1])
        script = (
            "import socket, concurrent.futures as f\n"
            "def get(i):\n"
            f"    with socket.create_connection(('127.0.0.1', {port}), timeout=5) as c:\n"
            "        c.sendall(b'GET / HTTP/1.0\\r\\n\\r\\n'); d = b''\n"
            "        while (x := c.recv(65536)): d += x\n"
            "    return d.split(b'\\r\\n\\r\\n', 1)[1].strip().decode()\n"
            "with f.ThreadPoolExecutor(20) as p: print(sorted(set(p.map(get, range(60)))))\n")
        out = in_netns(netpod.netns or "", sys.executable, "-c", script)
        assert out.stdout.strip() == f"['{name}']"
        assert http_get(netpod.netns or "", "http://127.0.0.1:19090/").strip() == "inner"
        assert http_get(netpod.netns or "", "http://[::1]:19090/").strip() == "inner"
        started = time.monotonic()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=5) == 0
        assert time.monotonic() - started < 2
        handled = proc.stdout.read().count("Handling connection for")
        assert handled == 62
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream:
                stream.close()


# -- Services --------------------------------------------------------------------------

DEPLOYMENT = """
apiVersion: v1
kind: Service
metadata: {{name: {name}}}
spec:
  type: {type}
  selector: {{app: {name}}}
  ports:
  - {{name: web, port: 80, targetPort: http}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: web
        image: busybox
        command: [sh, -c, 'mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www']
        ports: [{{containerPort: 8080, name: http}}]
        readinessProbe:
          tcpSocket: {{port: http}}
          periodSeconds: 1
"""


def pods_of(mp: Minipod, app: str) -> list[str]:
    return sorted(p.name.split("_", 1)[1] for p in (mp.root / "pods").iterdir()
                  if p.name.startswith(f"default_{app}-"))


def test_service_keeps_traffic_flowing_while_replicas_die(netpod: Minipod) -> None:
    name = unique_name("svc")
    up(netpod, DEPLOYMENT.format(name=name, type="ClusterIP", replicas=3))
    wait_for_endpoints(netpod, name, 3)
    vip = service_record(netpod, name)["clusterIP"]
    client = Client(netpod.netns or "", vip, 80)
    time.sleep(0.5)
    victims = pods_of(netpod, name)
    # one replica's server is killed from the node: it restarts in its pod
    killed_pid = container_pid(netpod, victims[0], "web")
    subprocess.run(["kill", "-9", str(killed_pid)], check=True)
    wait_for(lambda: len([e for e in endpoints(netpod, name) if e["ready"]]) == 3
             and (netpod.pod_record(victims[0]) or {})["containers"]["web"].get("pid")
             not in (None, killed_pid), 20, "the killed replica back")
    time.sleep(0.5)
    # another is deleted: the Deployment replaces it with a new pod
    out = netpod.run("delete", "pod", victims[1])
    assert out.returncode == 0, out.stderr
    wait_for(lambda: victims[1] not in pods_of(netpod, name) and len(pods_of(netpod, name)) == 3
             and len([e for e in endpoints(netpod, name) if e["ready"]]) == 3, 20,
             "the deleted replica replaced")
    time.sleep(0.5)
    result = client.finish()
    served = set(result["bodies"])
    # traffic went on all along, to every replica, old and new
    assert result["ok"] > 200, result
    assert served >= {victims[0], victims[2]} and len(served) >= 4, result
    # the only failures allowed: connections sent in the ~millisecond between
    # the killed server's death and the supervisor hearing of it
    assert result["failed"] <= 3, result
    print(f"\n{result['ok']} requests answered, {result['failed']} failed: "
          f"{result['failures']}")


def test_an_unready_pod_leaves_the_endpoints(netpod: Minipod) -> None:
    name = unique_name("ready")
    probe = """
    readinessProbe:
      exec: {command: [test, -f, /tmp/ready]}
      periodSeconds: 1
      failureThreshold: 1"""
    service = f"""
apiVersion: v1
kind: Service
metadata: {{name: {name}}}
spec:
  selector: {{app: {name}}}
  ports: [{{port: 80, targetPort: 8080}}]
---
"""
    pods = [f"{name}-a", f"{name}-b"]
    up(netpod, service + "---\n".join(server_pod(p, labels=f"app: {name}", extra=probe)
                                      .replace("command: [sh, -c, '",
                                               "command: [sh, -c, 'touch /tmp/ready; ")
                                      for p in pods))
    wait_for_endpoints(netpod, name, 2)
    vip = service_record(netpod, name)["clusterIP"]
    in_pod(netpod, pods[0], "web", "rm /tmp/ready")
    wait_for(lambda: [e["pod"] for e in endpoints(netpod, name) if e["ready"]] == [pods[1]],
             10, "the unready pod out of the endpoints")
    text = netpod.run("get", "endpoints", name).stdout
    assert f"{pod_ip(netpod, pods[1])}:8080" in text
    assert pod_ip(netpod, pods[0]) not in text
    for _ in range(10):  # every request goes to the ready one
        assert http_get(netpod.netns or "", f"http://{vip}/").strip() == pods[1]
    in_pod(netpod, pods[0], "web", "touch /tmp/ready")
    wait_for_endpoints(netpod, name, 2)


def test_node_port_and_service_from_a_pod(netpod: Minipod) -> None:
    name = unique_name("np")
    up(netpod, DEPLOYMENT.format(name=name, type="NodePort", replicas=2))
    wait_for_endpoints(netpod, name, 2)
    record = service_record(netpod, name)
    node_port = record["ports"][0]["nodePort"]
    assert 30000 <= node_port <= 32767
    gateway = json.loads((netpod.root / "network" / "config.json").read_text())["gateway"]
    served = {http_get(netpod.netns or "", f"http://{gateway}:{node_port}/").strip()
              for _ in range(12)}
    assert served == set(pods_of(netpod, name))
    rows = netpod.run("get", "svc", name).stdout.splitlines()
    assert rows[1].split()[:5] == [name, "NodePort", record["clusterIP"], "<none>",
                                   f"80:{node_port}/TCP"]
    # a pod reaches the Service, itself included (hairpin)
    pod = pods_of(netpod, name)[0]
    seen = {in_pod(netpod, pod, "web", f"wget -q -O- http://{record['clusterIP']}/").strip()
            for _ in range(12)}
    assert pod in seen and len(seen) == 2


def test_kubectl_verbs_over_a_service(netpod: Minipod) -> None:
    """apply, get, describe, label, wait and delete take Services as they take
    every kind (the kind registry, cli/views/objects.py)."""
    name = unique_name("verbs")
    path = netpod.manifest(DEPLOYMENT.format(name=name, type="ClusterIP", replicas=2),
                           "verbs.yaml")
    out = netpod.run("apply", "-f", str(path))
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [f"service/{name} created",
                                       f"deployment.apps/{name} created"]
    wait_for_endpoints(netpod, name, 2)
    again = netpod.run("apply", "-f", str(path))
    assert again.returncode == 0, again.stderr
    assert f"service/{name} unchanged" in again.stdout.splitlines()
    vip = service_record(netpod, name)["clusterIP"]
    got = netpod.run("get", "svc", name, "-o", "jsonpath={.spec.clusterIP}")
    assert got.stdout == vip, got.stderr
    ips = sorted(pod_ip(netpod, p) for p in pods_of(netpod, name))
    out = netpod.run("wait", f"--for=jsonpath={{.subsets[0].addresses[1].ip}}={ips[1]}",
                     f"ep/{name}", "--timeout", "20s")
    assert out.stdout == f"endpoints/{name} condition met\n", out.stderr
    described = netpod.run("describe", "svc", name).stdout
    assert re.search(rf"^Endpoints:\s+{re.escape(ips[0])}:8080,{re.escape(ips[1])}:8080$",
                     described, re.M), described
    out = netpod.run("label", "svc", name, "team=a")
    assert out.stdout == f"service/{name} labeled\n", out.stderr
    assert netpod.run("get", "svc", "-l", "team=a", "-o", "name").stdout == f"service/{name}\n"
    assert service_record(netpod, name)["object"]["metadata"]["labels"] == {"team": "a"}
    # deleted by its label: its rules and records go, its pods stay
    out = netpod.run("delete", "svc", "-l", "team=a")
    assert out.stdout == f'service "{name}" deleted\n', out.stderr
    assert not (netpod.root / "services" / f"default_{name}.json").exists()
    assert not (netpod.root / "endpoints" / f"default_{name}.json").exists()
    assert vip not in nft_ruleset(netpod.netns or "")
    assert len(pods_of(netpod, name)) == 2
    out = netpod.run("delete", "-f", str(path))
    assert out.returncode == 1
    assert out.stdout == f'deployment.apps "{name}" deleted\n'
    assert out.stderr == (f'Error from server (NotFound): error when deleting "{path}": '
                          f'services "{name}" not found\n')
    stop_daemon(netpod)


def test_cluster_dns_from_a_pod(netpod: Minipod) -> None:
    name = unique_name("dns")
    upstream = subprocess.Popen(
        [*netpod.prefix(), sys.executable, str(Path(__file__).parent.parent / "support"
                                               / "fakedns.py"), "127.0.0.1", "53"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert upstream.stdout is not None and upstream.stdout.readline().strip() == "ready"
        up(netpod, DEPLOYMENT.format(name=name, type="ClusterIP", replicas=1))
        wait_for_endpoints(netpod, name, 1)
        vip = service_record(netpod, name)["clusterIP"]
        pod = pods_of(netpod, name)[0]
        resolv = in_pod(netpod, pod, "web", "cat /etc/resolv.conf")
        config = json.loads((netpod.root / "network" / "config.json").read_text())
        assert resolv == ("search default.svc.cluster.local svc.cluster.local cluster.local "
                          f"example.test\nnameserver {config['dnsIP']}\noptions ndots:5\n")
        for host in (name, f"{name}.default", f"{name}.default.svc.cluster.local"):
            answer = in_pod(netpod, pod, "web", f"wget -q -O- http://{host}/")
            assert answer.strip() == pod, host
        looked_up = in_pod(netpod, pod, "web", f"nslookup {name}.default.svc.cluster.local")
        assert vip in looked_up
        missing = subprocess.run(
            ["nsenter", "-t", str(container_pid(netpod, pod, "web")), "-a",
             "nslookup", "nope.default.svc.cluster.local"], capture_output=True, text=True)
        assert "NXDOMAIN" in missing.stdout + missing.stderr
        # a name outside the cluster goes to the node's resolver
        assert "198.51.100.7" in in_pod(netpod, pod, "web", "nslookup outside.example.test.")
        # ... and a short name through the node's search domain (ndots:5 tries
        # the cluster's domains first, which cluster DNS answers NXDOMAIN)
        assert "198.51.100.7" in in_pod(netpod, pod, "web", "nslookup outside || true")
        env = in_pod(netpod, pod, "web", "cat /proc/1/environ | tr '\\0' '\\n'")
        prefix = name.upper().replace("-", "_")
        assert f"{prefix}_SERVICE_HOST={vip}" in env
        assert f"{prefix}_SERVICE_PORT=80" in env and f"{prefix}_SERVICE_PORT_WEB=80" in env
        assert f"{prefix}_PORT=tcp://{vip}:80" in env
    finally:
        upstream.terminate()
        upstream.wait(timeout=10)
        if upstream.stdout:
            upstream.stdout.close()


def test_dns_policies(netpod: Minipod) -> None:
    default, custom = unique_name("dflt"), unique_name("none")
    extra = ""
    manifests = [
        server_pod(default) + "  dnsPolicy: Default\n",
        server_pod(custom) + extra + """  dnsPolicy: None
  dnsConfig:
    nameservers: [192.0.2.53]
    searches: [corp.example]
    options: [{name: ndots, value: "2"}, {name: edns0}]
""",
    ]
    up(netpod, "---\n".join(manifests))
    assert in_pod(netpod, default, "web", "cat /etc/resolv.conf") == \
        "search example.test\nnameserver 127.0.0.1\n"
    assert in_pod(netpod, custom, "web", "cat /etc/resolv.conf") == \
        "search corp.example\nnameserver 192.0.2.53\noptions ndots:2 edns0\n"


# -- crashes and teardown ----------------------------------------------------------------


def test_a_crashed_supervisor_leaves_traffic_flowing_and_recover_adopts(
        netpod: Minipod) -> None:
    name = unique_name("crash")
    up(netpod, DEPLOYMENT.format(name=name, type="ClusterIP", replicas=2))
    wait_for_endpoints(netpod, name, 2)
    vip = service_record(netpod, name)["clusterIP"]
    before = {p: pod_ip(netpod, p) for p in pods_of(netpod, name)}
    from nettest import daemon_pid

    pid = daemon_pid(netpod)
    assert pid is not None
    subprocess.run(["kill", "-9", str(pid)], check=True)
    wait_for(lambda: daemon_pid(netpod) is None, 10, "the daemon gone")
    # the rules are the kernel's: the Service still answers
    assert http_get(netpod.netns or "", f"http://{vip}/").strip() in before
    out = netpod.run("recover")
    assert out.returncode == 0, out.stderr
    assert {p: pod_ip(netpod, p) for p in pods_of(netpod, name)} == before
    wait_for(lambda: service_record(netpod, name)["supervisor"]["pid"] == daemon_pid(netpod),
             10, "the Service adopted")
    # adopted: a deleted replica is replaced and the Service follows
    victim = sorted(before)[0]
    assert netpod.run("delete", "pod", victim).returncode == 0
    wait_for(lambda: victim not in pods_of(netpod, name) and len(
        [e for e in endpoints(netpod, name) if e["ready"]]) == 2, 20, "replaced")
    assert {http_get(netpod.netns or "", f"http://{vip}/").strip() for _ in range(10)} <= \
        set(pods_of(netpod, name))
    out = netpod.run("down", str(netpod.workdir / "pod.yaml"))
    assert out.returncode == 0, out.stderr
    stop_daemon(netpod)  # the fixture then checks the namespace is as it was made


def test_egress_is_off_unless_asked_for(netpod: Minipod) -> None:
    """Only the rules: no packet leaves the test's namespace either way."""
    name = unique_name("egress")
    up(netpod, server_pod(name))
    netpod.wait_running(name, ["web"])
    rules = nft_ruleset(netpod.netns or "")
    bridge = json.loads((netpod.root / "network" / "config.json").read_text())["bridge"]
    assert f'iifname "{bridge}" oifname != "{bridge}" drop' in rules
    assert "masquerade" in rules and "ip saddr" not in rules.split("masquerade")[0][-80:]
    netpod.run("delete", "pod", name, "--now")
    stop_daemon(netpod)
    netpod.extra_env["MINIPOD_POD_EGRESS"] = "masquerade"
    up(netpod, server_pod(name))
    netpod.wait_running(name, ["web"])
    config = json.loads((netpod.root / "network" / "config.json").read_text())
    rules = nft_ruleset(netpod.netns or "")
    assert f'ip saddr {config["podCIDR"]} oifname != "{bridge}" masquerade' in rules
    assert f'iifname "{bridge}" oifname != "{bridge}" accept' in rules


def test_many_pods_starting_at_once_get_distinct_addresses(netpod: Minipod) -> None:
    name = unique_name("many")
    up(netpod, DEPLOYMENT.format(name=name, type="ClusterIP", replicas=8))
    wait_for_endpoints(netpod, name, 8, timeout=60)
    ips = [pod_ip(netpod, p) for p in pods_of(netpod, name)]
    assert len(set(ips)) == 8
    claims = sorted(p.name for p in (netpod.root / "network" / "pod-ips").iterdir())
    assert claims == sorted(ips)
    for pod, ip in zip(pods_of(netpod, name), ips, strict=True):
        assert http_get(netpod.netns or "", f"http://{ip}:8080/").strip() == pod
