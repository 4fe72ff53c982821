"""A network rule checked across two pods: a server bound to the pod's
loopback is reachable from its own pod only, one bound to every address
from the other pod too (each pod has a network namespace of its own).

Runs in a network namespace the fixture made: both pods, the bridge
between them and every connection stay in it.
"""

from minipod.testing import Node
from minipod.testing import build as b

TWO_SERVERS = ("mkdir -p /www && echo hello > /www/index.html"
               " && httpd -p 127.0.0.1:8081 -h /www && exec httpd -f -p 8080 -h /www")


def test_loopback_is_the_pods_own(minipod_network: Node) -> None:
    applied = minipod_network.apply(
        b.pod(b.shell("server", TWO_SERVERS, readiness=b.tcp_socket(8080))),
        b.pod(b.container("client", "sleep", "3600")))
    server, client = applied.pods
    server.wait_ready()
    client.wait_running()
    assert server.ip and client.ip and server.ip != client.ip

    def get(pod_ip: str, port: int) -> int:
        return client.exec("wget", "-q", "-O-", f"http://{pod_ip}:{port}/").exit_code

    assert get(server.ip, 8080) == 0  # every address: reachable from the client pod
    assert get(server.ip, 8081) != 0  # the server pod's loopback: not from another pod
    assert client.exec("wget", "-q", "-O-", "http://127.0.0.1:8081/").exit_code != 0
    # ...but from inside its own pod, on 127.0.0.1
    assert server.exec("wget", "-q", "-O-", "http://127.0.0.1:8081/").stdout == "hello\n"
