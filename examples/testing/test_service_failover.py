"""A Service keeps answering while one of its pods is killed, and the pod heals.

Two replicas of a busybox httpd behind a ClusterIP Service, and a client pod
that asks the Service for the page (each replica serves its own name). One
replica's server is killed from the host: the Service must answer from the
other while it is out, and take it back once it runs and is ready again.

Runs in a network namespace the fixture made (the pod network, the
Service's nftables rules and every request stay in it).
"""

from minipod.testing import Node
from minipod.testing import build as b

SERVE_NAME = "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www"


def test_service_fails_over_while_a_pod_is_killed(minipod_network: Node) -> None:
    # the readiness probe waits 2 s after each start: a restarted replica
    # stays out of the Service for that long, so the failover can be watched
    web = b.deployment(
        b.shell("web", SERVE_NAME, readiness=b.http_get(8080, delay=2), ports=[8080]),
        replicas=2, labels={"app": "web"})
    applied = minipod_network.apply(
        web, b.service({"app": "web"}, 80, 8080),
        b.pod(b.container("client", "sleep", "3600")))
    deployment, service, client = applied.workloads[0], applied.services[0], applied.pod
    deployment.wait_available(2)
    service.wait_endpoints(2)
    client.wait_running()

    def ask() -> str:
        return client.exec("wget", "-q", "-O-", f"http://{service.cluster_ip}/",
                           check=True).stdout.strip()

    replicas = sorted(p.name for p in deployment.pods())
    assert {ask() for _ in range(30)} == set(replicas)  # both serve

    victim = deployment.pods()[0]
    survivor = next(p for p in deployment.pods() if p.name != victim.name)
    restarts = victim.kill("web")
    assert service.wait_endpoints(1) == [survivor.ip]  # out at once, before it restarts
    assert [ask() for _ in range(10)] == [survivor.name] * 10  # no request lost

    victim.wait_restarts(restarts + 1, "web")
    service.wait_endpoints(2)  # back once ready
    assert victim.container("web").last_exit_code == 137  # SIGKILL
    assert {ask() for _ in range(30)} == set(replicas)
