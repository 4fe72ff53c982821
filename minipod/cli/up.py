"""`minipod up FILE` (foreground), `minipod up -d FILE` and `minipod recover`.

Foreground: validate everything, resolve every image, then start the pods
under one supervisor and serve them until they are gone. Detached: the same
checks here (bad input is exit 2 with nothing started), then the manifest
goes to the one background supervisor (minipod/server/daemon.py), started
if none runs, which starts the pods and answers once they are created.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from minipod.api.backoff import BackoffPolicy
from minipod.api.errors import MinipodError, SpecError
from minipod.api.events import print_sink, say
from minipod.api.manifest import load_objects
from minipod.api.model import ConfigData, Manifest, Pod
from minipod.kernel import cgroups, configstore
from minipod.kernel.image import Image, images_dir
from minipod.loop.eventloop import Loop
from minipod.runtime.images import missing_images, resolve_images, template_pod
from minipod.runtime.supervisor import Supervisor
from minipod.server import systemd
from minipod.server.client import NoAnswer, request
from minipod.server.control import ControlServer
from minipod.server.daemon import ensure_daemon, socket_path


def check_manifest(path: str) -> tuple[Manifest, dict[str, dict[str, Image | None]]]:
    """Everything that makes bad input exit 2 before anything starts: the
    manifest, and the image references of its pods and of its workloads'
    templates. Images not stored yet are pulled by the pods (a warning here)."""
    manifest = load_objects(path)
    pods = [*manifest.pods, *map(template_pod, manifest.workloads)]
    images = resolve_images(pods, path)
    warn_images(pods, images)
    if os.geteuid() != 0:
        raise MinipodError("minipod up needs root (namespaces, mounts): run it with sudo")
    return manifest, images


def warn_images(pods: list[Pod], images: dict[str, dict[str, Image | None]]) -> None:
    for found in images.values():
        for image in found.values():
            for warning in image.warnings if image is not None else ():
                print(f"warning: {warning}", file=sys.stderr)
    for where, ref, policy in missing_images(pods, images):
        then = ("it will not start (imagePullPolicy Never)" if policy == "Never"
                else "it is pulled when the pod starts")
        print(f"warning: {where}: image {ref!r} is not present in {images_dir()}; {then}",
              file=sys.stderr)



def pids_limit_of(given: int | None = None) -> int:
    """The pids limit of every pod: ``given``, else $MINIPOD_POD_PIDS_LIMIT,
    else -1 (none: the kubelet's default podPidsLimit)."""
    if given is None:
        text = os.environ.get("MINIPOD_POD_PIDS_LIMIT", "").strip()
        try:
            given = int(text) if text else -1
        except ValueError:
            raise SpecError(f"MINIPOD_POD_PIDS_LIMIT={text!r}: not a number") from None
    if given == 0 or given < -1:
        raise SpecError(f"pod pids limit {given}: must be -1 (no limit) or at least 1")
    return given


def in_own_cgroups() -> None:
    """Under systemd, a foreground `up` runs in a transient scope systemd
    delegates to it (server/systemd.py): the pods' cgroups go below it. This
    runs the command again there (same pid) unless it is in one already."""
    try:
        cgroups.host()
    except cgroups.NotDelegated:
        systemd.rerun_in_scope()
    except cgroups.CgroupError as e:
        raise MinipodError(f"cgroups: {e}") from e


def up(path: str, echo_logs: bool = True, backoff: BackoffPolicy | None = None,
       pod_pids_limit: int | None = None) -> int:
    limit = pids_limit_of(pod_pids_limit)
    manifest, images = check_manifest(path)
    Supervisor.check_configs(manifest.configs)
    in_own_cgroups()
    supervisor = Supervisor(Loop(), print_sink(), echo_logs=echo_logs, backoff=backoff,
                            status_sink=say, pod_pids_limit=limit)
    supervisor.open()
    # `delete pod` from another terminal reaches this supervisor here
    control = ControlServer(supervisor, supervisor.socket_path)
    control.open()
    created: list[ConfigData] = []
    try:
        for config, word in supervisor.apply_configs(manifest.configs):
            say(f"{config.kind.lower()}/{config.name} {word}")
            if word == "created":
                created.append(config)
        # Services before pods: a pod's container gets the variables of the
        # Services that exist when it starts
        for line in supervisor.services.apply(manifest.services):
            say(line)
        supervisor.start_pods(manifest.pods, images)
        for line in supervisor.apply_workloads(manifest.workloads, backoff):
            say(line)
        supervisor.run()
    finally:
        supervisor.rollback()
        supervisor.services.delete_all()
        control.close()
        supervisor.close()
        # the ConfigMaps and Secrets this run made go with its pods (those
        # that were there before it stay, as it found them)
        for config in created:
            configstore.delete(config.kind, config.namespace, config.name)
    if supervisor.failures:
        raise MinipodError("; ".join(supervisor.failures))
    return 0


# seconds `up -d` waits for its pods to be created (MINIPOD_APPLY_TIMEOUT: a slow host, a test)
APPLY_TIMEOUT = float(os.environ.get("MINIPOD_APPLY_TIMEOUT") or 120)
ANSWER_MARGIN = 5.0  # seconds more for the answer to come back after the deadline


def up_detached(path: str, backoff: str | None) -> int:
    check_manifest(path)  # exit 2 here, before any daemon is bothered
    text = Path(path).read_text()
    ensure_daemon()
    # The deadline goes with the request: past it the supervisor does nothing
    # (and undoes what it made for it), so a client that gives up says truly
    # that nothing was created.
    deadline = time.monotonic() + APPLY_TIMEOUT
    try:
        answer = request(socket_path(), {"op": "apply", "text": text, "source": path,
                                         "backoff": backoff, "deadline": deadline},
                         timeout=APPLY_TIMEOUT + ANSWER_MARGIN)
    except NoAnswer as e:
        raise MinipodError(f"{e}: the request is cancelled, no pod of it was created "
                           "(`minipod get pods` shows what runs)") from None
    if not answer.get("ok"):
        error = answer.get("error", "the supervisor refused")
        if answer.get("code") == 2:
            raise SpecError(error)
        raise MinipodError(error)
    for line in answer.get("said", []):
        print(line)
    return 0


def recover() -> int:
    """Start the daemon if it is not running; starting, it adopts orphaned pods."""
    ensure_daemon()
    answer = request(socket_path(), {"op": "ping"}, timeout=10)
    for line in answer.get("removed", []):
        print(line)
    pods = answer.get("pods", [])
    print(f"supervisor {answer.get('pid')} serves {len(pods)} pod(s)"
          + (": " + ", ".join(pods) if pods else ""))
    return 0
