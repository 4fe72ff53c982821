"""An OOM policy checked against a memory limit: the container that wants
more memory than its limit is OOM-killed by the kernel (reason OOMKilled,
exit code 137) and restarted by the pod's restartPolicy, while its
neighbour, under the same limit, is left alone.

Each container has a memory cgroup of its own, its limit from
resources.limits.memory, as under the kubelet.
"""

from minipod.testing import build as b
from minipod.testing.plugin import PodFactory


def test_the_container_over_its_limit_is_oom_killed_alone(pod: PodFactory) -> None:
    hungry = pod(
        b.container("steady", "sleep", "3600", memory_limit="32Mi"),
        # a 64 MiB buffer in a container limited to 32 MiB
        b.shell("hog", "sleep 1; exec dd if=/dev/zero of=/dev/null bs=64M count=1",
                memory_limit="32Mi"),
        restart_policy="OnFailure")
    record = hungry.wait_until(lambda r: (c := r.container("hog")) is not None
                               and c.restart_count >= 1, "the hog's first OOM kill")
    hog = next(s for s in record.container_statuses if s["name"] == "hog")
    last = hog["lastState"]["terminated"]
    assert last["reason"] == "OOMKilled" and last["exitCode"] == 137
    steady = hungry.container("steady")
    assert steady.running and steady.restart_count == 0
    # the kernel counted one OOM kill, in the hog's cgroup only, whose limit
    # is the one the manifest asked for (v1 memory.limit_in_bytes, v2 memory.max)
    assert hungry.cgroup("hog").usage().oom_kills >= 1
    assert hungry.cgroup("steady").usage().oom_kills == 0
    limits = hungry.cgroup("hog").limits()
    assert limits.get("memory.max", limits.get("memory.limit_in_bytes")) == str(32 << 20)
