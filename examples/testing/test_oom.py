"""An OOM policy checked against a memory limit: the container that wants
more memory than its limit is OOM-killed by the kernel (reason OOMKilled,
exit code 137) and restarted by the pod's restartPolicy, while its
neighbour, under the same limit, is left alone.

Needs memory limits (each container in a cgroup of its own): the test is
skipped, saying so, by a minipod that refuses resources.limits.memory.
"""

import pytest

from minipod.api.errors import SpecError
from minipod.api.manifest import parse_objects
from minipod.testing import build as b
from minipod.testing.node import manifest_text
from minipod.testing.plugin import PodFactory


def oom_pod() -> dict[str, object]:
    return b.pod(
        b.container("steady", "sleep", "3600", memory_limit="32Mi"),
        # a 64 MiB buffer in a container limited to 32 MiB
        b.shell("hog", "sleep 1; exec dd if=/dev/zero of=/dev/null bs=64M count=1",
                memory_limit="32Mi"),
        restart_policy="OnFailure")


def limits_accepted() -> bool:
    try:
        parse_objects(manifest_text(oom_pod())[0])
    except SpecError:
        return False
    return True


@pytest.mark.skipif(not limits_accepted(),
                    reason="this minipod refuses resources.limits.memory (no cgroups yet)")
def test_the_container_over_its_limit_is_oom_killed_alone(pod: PodFactory) -> None:
    hungry = pod(oom_pod())
    record = hungry.wait_until(lambda r: (c := r.container("hog")) is not None
                               and c.restart_count >= 1, "the hog's first OOM kill")
    hog = next(s for s in record.container_statuses if s["name"] == "hog")
    last = hog["lastState"]["terminated"]
    assert last["reason"] == "OOMKilled" and last["exitCode"] == 137
    steady = hungry.container("steady")
    assert steady.running and steady.restart_count == 0
