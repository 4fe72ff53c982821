"""minipod as a test harness: real pods in a test, torn down without a trace.

Owns the public Python API for kernel-feature integration tests and the
pytest plugin over it:

- node.py: ``Node``, a private minipod (state directory, image store, logs,
  cgroup root, and its own supervisor: server/daemon.py's, run as the test
  process's child by daemon.py), which applies manifests (text, dict, file)
  and tracks every object it made, so that ``cleanup``, a ``scope`` or
  ``close`` deletes them whatever happened in between;
- objects.py: handles on what it made (``Pod``, ``Workload``, ``Service``,
  ``Config``): status as the API objects and the typed records, waits on
  conditions (Ready, a phase, restarts, a probe's result, a log line), exec
  with captured output (execute.py), logs, kill a container, delete;
- watch.py: those waits, on inotify over the state directory (no sleep in
  a loop), bounded, with a message naming what was awaited and the last
  state seen (``WaitTimeout``);
- build.py: a small builder of manifests as dicts;
- network.py: a network namespace of the test's own, for a Node with the
  pod network and Services;
- leaks.py: the leak check, on the host itself;
- plugin.py: the pytest plugin (entry point ``pytest11``): fixtures
  ``minipod_node`` (one Node per session), ``pod`` (a factory, cleaned up
  and leak-checked after each test), ``minipod_network`` (a Node in a
  network namespace of the test's own), and the gate that skips a test
  marked ``minipod`` where pods cannot run (a failure under
  MINIPOD_TESTS_MUST_RUN=1).

The top layer: may import every other layer (cli included: exec reuses
`minipod exec`'s target), and nothing imports it.
"""

from minipod.testing import build
from minipod.testing.execute import ExecResult
from minipod.testing.network import NetworkNamespace
from minipod.testing.node import Applied, Node
from minipod.testing.objects import Config, Pod, Service, Workload
from minipod.testing.watch import WaitTimeout

__all__ = ["Applied", "Config", "ExecResult", "NetworkNamespace", "Node", "Pod", "Service",
           "WaitTimeout", "Workload", "build"]
