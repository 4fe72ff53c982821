"""Adoption: a new supervisor takes over the pods of one that died (SIGKILL,
OOM, a crash) without restarting anything.

Everything needed is in each pod's pod.json: the Pod as written, and per
container its pid and start time, state, back-off and the monotonic times of
its last start and exit (CLOCK_MONOTONIC is one clock for the whole boot). A
pid is taken back only if its start time still matches, so a reused pid is
never adopted nor signalled. Adopted containers are not our children: their
exits come through their pidfds, their exit codes from their zombies' /proc
stat (Supervisor.watch_foreign). Their output was held by pause in the
containers' FIFOs meanwhile; reading goes on into the same log file.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import shutil
from pathlib import Path
from typing import cast

from minipod.api.backoff import BackoffPolicy
from minipod.api.downward import ConfigError
from minipod.api.errors import ContainerConfigError, StartError
from minipod.api.manifest import parse_pods
from minipod.api.model import OwnerReference
from minipod.api.record import (
    ContainerRecord,
    PodRecord,
    RecordError,
    ServiceRecord,
    WorkloadRecord,
)
from minipod.api.resources import QoSClass
from minipod.api.status import State
from minipod.kernel import cgroups, podnet
from minipod.kernel.image import Image
from minipod.kernel.launch import launch_plan
from minipod.kernel.logs import LogFile
from minipod.kernel.ns import NsFds
from minipod.kernel.podnet import PodNet
from minipod.kernel.proc import same_process
from minipod.kernel.records import read_service_record
from minipod.kernel.sandbox import (
    POD_NAMESPACE_NAMES,
    Sandbox,
    pod_hostname,
    remove_pod_cgroups,
    retire_pod_dir,
    stop_pause,
)
from minipod.kernel.spawn import Child
from minipod.kernel.state import (
    pods_dir,
    read_json,
    services_dir,
    workload_records_dir,
)
from minipod.runtime.images import resolve_images
from minipod.runtime.pod import ContainerRun, PodRunner
from minipod.runtime.supervisor import Supervisor

log = logging.getLogger(__name__)


def orphaned_pods() -> list[tuple[Path, PodRecord]]:
    """Pods whose recorded supervisor is no longer running."""
    found = []
    for directory in sorted(pods_dir().iterdir()):
        try:
            record = PodRecord.from_json(read_json(directory / "pod.json"),
                                         str(directory / "pod.json"))
        except RecordError as e:
            log.error("cannot adopt %s: %s", directory, e)
            continue
        except (OSError, ValueError):
            continue  # being created or removed right now
        if not same_process(record.supervisor):
            found.append((directory, record))
    return found


def orphaned_workloads() -> list[WorkloadRecord]:
    """Workload records whose supervisor is no longer running."""
    found = []
    directory = workload_records_dir()
    for path in sorted(directory.glob("*.json")) if directory.exists() else []:
        try:
            record = WorkloadRecord.from_json(read_json(path), str(path))
        except RecordError as e:
            log.error("cannot adopt %s: %s", path, e)
            continue
        except (OSError, ValueError):
            continue
        if not same_process(record.supervisor):
            found.append(record)
    return found


def orphaned_services() -> list[ServiceRecord]:
    """Service records whose supervisor is no longer running."""
    found = []
    directory = services_dir()
    for path in sorted(directory.glob("*.json")) if directory.exists() else []:
        try:
            record = read_service_record(path)
        except RecordError as e:
            log.error("cannot adopt %s: %s", path, e)
            continue
        if record is not None and not same_process(record.supervisor):
            found.append(record)
    return found


def adopt_pod(sup: Supervisor, directory: Path, record: PodRecord) -> PodRunner:
    meta = record.api_object["metadata"]
    spec = {k: v for k, v in record.api_object["spec"].items() if k != "nodeName"}
    doc = {"apiVersion": "v1", "kind": "Pod", "spec": spec,
           "metadata": {k: meta[k] for k in ("name", "namespace", "labels", "annotations")
                        if k in meta}}
    source = str(directory / "pod.json")
    [pod] = parse_pods(json.dumps(doc), source)
    if record.owner is not None:  # a replica of a Deployment or ReplicaSet
        owner = OwnerReference(record.owner.kind, record.owner.name, record.owner.api_version)
        pod = dataclasses.replace(pod, owner=owner)
    images = resolve_images([pod], source)[f"{pod.namespace}/{pod.name}"]
    runner = PodRunner(sup, pod, images, BackoffPolicy(*record.backoff), effects=sup.effects)
    if record.network is not None:  # the pod keeps its address (its claim is on disk)
        runner.net = record.network
        sup.network.adopt(pod, record.network)
    runner.sandbox = _adopt_sandbox(runner, directory, record)
    runner.watch_oom()
    runner.started_at = record.started_at or runner.started_at
    runner.initialized = record.initialized
    pause_alive = runner.sandbox.pause.pidfd >= 0
    if pause_alive:
        sup.watch_foreign(runner.sandbox.pause, record.pause.start_time or 0.0,
                          runner._on_pause_exit)
    vanished = [run for run in runner.runs
                if not _adopt_container(sup, runner, run, record.container(run.name),
                                        pause_alive)]
    sup.pods[runner.key] = runner
    runner.event("Normal", "Adopted", f"supervisor {os.getpid()} took the pod over")
    if not pause_alive:  # kill what still runs, then a new sandbox
        runner.sandbox_lost("pause died while no supervisor watched it")
    else:
        for run in vanished:  # restarted (or not) by the pod's policy
            runner._after_exit(run)
        _resume_waiting(runner)
    runner.save()
    return runner


def _adopt_sandbox(runner: PodRunner, directory: Path, record: PodRecord) -> Sandbox:
    pod = runner.pod
    pause, ns = Child(0, -1), NsFds(0, {})
    if same_process(record.pause) and record.pause.pid is not None:
        pid = record.pause.pid
        pause = Child(pid, os.pidfd_open(pid))
        names = POD_NAMESPACE_NAMES + (("pid",) if pod.spec.share_process_namespace else ())
        ns = NsFds.open(pid, names)
    teardown = contextlib.ExitStack()
    teardown.callback(retire_pod_dir, directory)
    log_dir = Path(record.log_dir) if record.log_dir else directory / "logs"
    if record.log_dir:
        teardown.callback(shutil.rmtree, log_dir, True)
    pod_cgroups = None
    if record.cgroup:  # the cgroups it was made in, found again
        pod_cgroups = cgroups.adopt_pod(
            cgroups.host(), record.cgroup, cast(QoSClass, record.qos_class),
            [c.name for c in (*pod.spec.init_containers, *pod.spec.containers)])
        teardown.callback(remove_pod_cgroups, pod_cgroups)
    pause_stack = contextlib.ExitStack()
    pause_stack.callback(stop_pause, pause)
    pause_stack.callback(ns.close)
    return Sandbox(pod, directory, record.uid, pod_hostname(pod), pause, ns,
                   record.created, teardown, pause_stack, record.sandbox_attempt,
                   log_dir=log_dir, net=_adopted_net(directory, record),
                   cgroups=pod_cgroups)


def _adopted_net(directory: Path, record: PodRecord) -> PodNet:
    """What a replaced pause of this pod will need (csrc/pause.c --net)."""
    try:
        resolv = (directory / "etc" / "resolv.conf").read_text()
    except OSError:
        resolv = ""
    config = podnet.read_config()
    if record.network is None or config is None:
        return PodNet(resolv)
    return PodNet(resolv, record.network.ip, config.gateway, config.bridge)


def _adopt_container(sup: Supervisor, runner: PodRunner, run: ContainerRun,
                     entry: ContainerRecord | None, pause_alive: bool) -> bool:
    """Restore one container; False when it was running and has vanished since."""
    resume = entry.resume if entry is not None else None
    if entry is None or resume is None:
        return True  # never started: _advance starts it in its turn
    run.state, run.last_state = resume.state, resume.last_state
    run.attempt = entry.attempt
    run.finished_mono, run.started_mono = resume.finished_mono, resume.started_mono
    run.backoff.restore(resume.backoff)
    run.post_start_done = True  # a postStart cut off by the crash is not run twice
    run.started, run.ready = entry.started, entry.ready
    if run.state.kind != "running":
        return True
    if entry.process is None or not same_process(entry.process):
        _mark_vanished(runner, run)
        return False
    _take_back(sup, runner, run, entry, pause_alive)
    return True


def _mark_vanished(runner: PodRunner, run: ContainerRun) -> None:
    now = runner.loop.clock.wall()
    run.state = State("terminated", "ContainerStatusUnknown",
                      "The container could not be located when the supervisor came back",
                      137, 0, run.state.started_at, now)
    run.finished_mono = runner.loop.clock.now()


def _take_back(sup: Supervisor, runner: PodRunner, run: ContainerRun,
               entry: ContainerRecord, pause_alive: bool) -> None:
    assert runner.sandbox is not None and entry.process is not None
    pid = entry.process.pid
    assert pid is not None
    run.child = Child(pid, os.pidfd_open(pid))
    sup.watch_foreign(run.child, entry.process.start_time or 0.0,
                      lambda status: runner._on_container_exit(run, status))
    try:  # the variables it started with, as far as they can be known now
        run.env = runner.own_env(run)
    except ConfigError:  # a ConfigMap or Secret gone since: the manifest's own values
        run.env = None
    with_plan = True
    try:
        if run.image is not None and run.env is not None:
            run.plan = runner._launch_plan(run)
        else:
            # the image may be gone from the store (its exec environment then
            # comes without the image's Env); it is pulled again before a restart
            image = run.image or Image(run.spec.image, run.spec.image, ())
            run.plan = launch_plan(run.spec, image, runner.sandbox.hostname,
                                   runner.pod.spec.security_context, env=run.env)
    except (ContainerConfigError, StartError) as e:
        # it runs, made by a supervisor that could; without a plan it gets
        # no exec probes or hooks (a restart waits in the error)
        log.warning("container %s: %s", run.name, e)
        with_plan = False
    runner._open_streams(run)
    run.log = LogFile(Path(entry.log), *sup.log_limits())  # append: the same run goes on
    for pipe in run.pipes:
        pipe.attach(run.log)
    if pause_alive and with_plan:  # else it is about to be killed with its sandbox
        runner._open_target(run)
        runner._start_probes(run)


def _resume_waiting(runner: PodRunner) -> None:
    for run in runner.runs:
        if run.state.kind == "waiting" and run.finished_mono is not None:
            runner._launch(run)  # back-off left to wait, or a restart now
    runner._advance()
