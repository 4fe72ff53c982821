"""`minipod describe pod` (kubectl describe): kubectl's text, block by block,
and minipod's own Namespaces section (whose namespaces each process is in)."""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from typing import Any

from minipod.api.events import Event
from minipod.api.record import ConfigRecord, PodRecord, ServiceRecord
from minipod.api.status import human_age
from minipod.cli.views import host
from minipod.cli.views.host import NAMESPACE_KINDS
from minipod.cli.views.output import ViewError, write
from minipod.cli.views.records import (
    PodEntry,
    containers_in_order,
    list_pods,
    parse_time,
    require_pod,
    supervised,
)
from minipod.cli.views.tabwriter import TabWriter
from minipod.cli.views.usage import describe_lines as describe_usage
from minipod.kernel.eventlog import read_events

L1, L2, L3 = "  ", "    ", "      "  # kubectl's PrefixWriter levels


def _probe_text(probe: dict[str, Any]) -> str:
    """kubectl's DescribeProbe, with the API server's defaults applied."""
    attrs = (f"delay={probe.get('initialDelaySeconds', 0)}s "
             f"timeout={probe.get('timeoutSeconds', 1)}s "
             f"period={probe.get('periodSeconds', 10)}s "
             f"#success={probe.get('successThreshold', 1)} "
             f"#failure={probe.get('failureThreshold', 3)}")
    if "exec" in probe:
        command = (probe["exec"] or {}).get("command") or []
        return f"exec [{' '.join(command)}] {attrs}"
    if "httpGet" in probe:
        get = probe["httpGet"] or {}
        host, port = str(get.get("host", "")), str(get.get("port", ""))
        if ":" in host:
            host = f"[{host}]"
        netloc = f"{host}:{port}" if port else host
        path = _escape_path(str(get.get("path") or "/"))
        if not path.startswith("/"):
            path = "/" + path
        return f"http-get {str(get.get('scheme') or 'HTTP').lower()}://{netloc}{path} {attrs}"
    if "tcpSocket" in probe:
        tcp = probe["tcpSocket"] or {}
        return f"tcp-socket {tcp.get('host', '')}:{tcp.get('port', '')} {attrs}"
    if "grpc" in probe:
        grpc = probe["grpc"] or {}
        return f"grpc <pod>:{grpc.get('port', '')} {grpc.get('service', '')} {attrs}"
    return f"unknown {attrs}"


def _escape_path(path: str) -> str:
    # start-up: imported with the verb that needs it
    from urllib.parse import quote

    return quote(path, safe="/$&+,:;=@-._~")  # Go's url path escaping


def rfc1123z(when: float) -> str:
    """Go's time.RFC1123Z, in local time: "Mon, 02 Jan 2006 15:04:05 -0700"."""
    return time.strftime("%a, %d %b %Y %H:%M:%S %z", time.localtime(when))


def _state_lines(name: str, state: dict[str, Any]) -> list[str]:
    if "running" in state:
        started = parse_time((state["running"] or {}).get("startedAt"))
        return [f"{L2}{name}:\tRunning",
                f"{L3}Started:\t{rfc1123z(started) if started is not None else ''}"]
    if "terminated" in state:
        t = state["terminated"] or {}
        lines = [f"{L2}{name}:\tTerminated"]
        if t.get("reason"):
            lines.append(f"{L3}Reason:\t{t['reason']}")
        if t.get("message"):
            lines.append(f"{L3}Message:\t{t['message']}")
        lines.append(f"{L3}Exit Code:\t{t.get('exitCode', 0)}")
        if t.get("signal"):
            lines.append(f"{L3}Signal:\t{t['signal']}")
        for label, key in (("Started", "startedAt"), ("Finished", "finishedAt")):
            when = parse_time(t.get(key))
            lines.append(f"{L3}{label}:\t{rfc1123z(when) if when is not None else ''}")
        return lines
    lines = [f"{L2}{name}:\tWaiting"]
    reason = (state.get("waiting") or {}).get("reason")
    if reason:
        lines.append(f"{L3}Reason:\t{reason}")
    return lines


def _container_lines(container: dict[str, Any], status: dict[str, Any] | None,
                     pod: dict[str, Any] | None = None,
                     record: PodRecord | None = None) -> list[str]:
    lines = [f"{L1}{container.get('name', '')}:"]
    if status is not None:
        lines.append(f"{L2}Container ID:\t{status.get('containerID', '')}")
    lines.append(f"{L2}Image:\t{container.get('image', '')}")
    if status is not None:
        lines.append(f"{L2}Image ID:\t{status.get('imageID', '')}")
    ports = container.get("ports") or []
    port_text = ", ".join(f"{p.get('containerPort', 0)}/{p.get('protocol', 'TCP')}"
                          for p in ports)
    host_text = ", ".join(f"{p.get('hostPort', 0)}/{p.get('protocol', 'TCP')}" for p in ports)
    lines.append(f"{L2}Ports:\t{port_text}" if "," in port_text
                 else f"{L2}Port:\t{port_text or '<none>'}")
    lines.append(f"{L2}Host Ports:\t{host_text}" if "," in host_text
                 else f"{L2}Host Port:\t{host_text or '<none>'}")
    for title, key in (("Command", "command"), ("Args", "args")):
        if container.get(key):
            lines.append(f"{L2}{title}:")
            lines += [f"{L3}{part}" for arg in container[key] for part in str(arg).split("\n")]
    if status is not None:
        lines += _state_lines("State", status.get("state") or {})
        last = status.get("lastState") or {}
        if "terminated" in last:
            lines += _state_lines("Last State", last)
        lines.append(f"{L2}Ready:\t{'True' if status.get('ready') else 'False'}")
        lines.append(f"{L2}Restart Count:\t{status.get('restartCount', 0)}")
    lines += _resource_lines(container.get("resources") or {})
    for title, key in (("Liveness", "livenessProbe"), ("Readiness", "readinessProbe"),
                       ("Startup", "startupProbe")):
        if container.get(key):
            lines.append(f"{L2}{title}:\t{_probe_text(container[key])}")
    lines += _env_lines(container, pod) + _mount_lines(container)
    # not kubectl's (it shows no usage): last, where it moves no column of its
    if status is not None and record is not None and "running" in (status.get("state") or {}):
        lines += describe_usage(record, str(container.get("name", "")), L2)
    return lines


def _resource_lines(resources: dict[str, Any]) -> list[str]:
    """describeContainerResource: Limits, then Requests, names sorted."""
    lines = []
    for title, key in (("Limits", "limits"), ("Requests", "requests")):
        values = resources.get(key) or {}
        if values:
            lines.append(f"{L2}{title}:")
            lines += [f"{L3}{name}:\t{values[name]}" for name in sorted(values)]
    return lines


def _env_from_lines(container: dict[str, Any]) -> list[str]:
    sources = container.get("envFrom") or []
    lines = [f"{L2}Environment Variables from:"] if sources else []
    for source in sources:
        ref = source.get("configMapRef") or source.get("secretRef") or {}
        what = "ConfigMap" if "configMapRef" in source else "Secret"
        optional = "true" if ref.get("optional") else "false"
        if source.get("prefix"):
            what += f" with prefix '{source['prefix']}'"
        lines.append(f"{L3}{ref.get('name', '')}\t{what}\tOptional: {optional}")
    return lines


def _value_from_text(source: dict[str, Any], pod: dict[str, Any]) -> str:
    """describeContainerEnvVars: where a valueFrom comes from; a Secret's value never."""
    if "fieldRef" in source:
        ref = source["fieldRef"] or {}
        path = ref.get("fieldPath", "")
        meta = pod.get("metadata") or {}
        values = {"metadata.name": meta.get("name", ""),
                  "metadata.namespace": meta.get("namespace", ""),
                  "metadata.uid": meta.get("uid", ""),
                  "spec.nodeName": (pod.get("spec") or {}).get("nodeName", "")}
        return f"{values.get(path, '')} ({ref.get('apiVersion', 'v1')}:{path})"
    if "resourceFieldRef" in source:
        resource = (source["resourceFieldRef"] or {}).get("resource", "")
        shown = "node allocatable" if resource.startswith("limits.") else "0"
        return f"{shown} ({resource})"
    for key, word, prep in (("secretKeyRef", "secret", "in"),
                            ("configMapKeyRef", "config map", "of")):
        if key in source:
            ref = source[key] or {}
            optional = "true" if ref.get("optional") else "false"
            return (f"<set to the key '{ref.get('key', '')}' {prep} {word} "
                    f"'{ref.get('name', '')}'>\tOptional: {optional}")
    return ""


def _env_lines(container: dict[str, Any], pod: dict[str, Any] | None = None) -> list[str]:
    env = container.get("env") or []
    lines = _env_from_lines(container)
    lines.append(f"{L2}Environment:" + ("" if env else "\t<none>"))
    for var in env:
        if "valueFrom" in var:
            text = _value_from_text(var["valueFrom"] or {}, pod or {})
            lines.append(f"{L3}{var.get('name', '')}:\t{text}")
            continue
        for i, part in enumerate(str(var.get("value", "")).split("\n")):
            lines.append(f"{L3}{var.get('name', '')}:\t{part}" if i == 0 else f"{L3}\t{part}")
    return lines


def _mount_lines(container: dict[str, Any]) -> list[str]:
    mounts = sorted(container.get("volumeMounts") or [], key=lambda m: m.get("mountPath", ""))
    lines = [f"{L2}Mounts:" + ("" if mounts else "\t<none>")]
    for mount in mounts:
        flags = ["ro" if mount.get("readOnly") else "rw"]
        if mount.get("subPath"):
            flags.append(f'path="{mount["subPath"]}"')
        lines.append(f"{L3}{mount.get('mountPath', '')} from {mount.get('name', '')} "
                     f"({','.join(flags)})")
    return lines


def _containers_section(title: str, containers: list[dict[str, Any]],
                        statuses: list[dict[str, Any]],
                        pod: dict[str, Any] | None = None,
                        record: PodRecord | None = None) -> list[str]:
    by_name = {s.get("name"): s for s in statuses}
    lines = [f"{title}:" + ("" if containers else " <none>")]
    for container in containers:
        lines += _container_lines(container, by_name.get(container.get("name")), pod,
                                  record)
    return lines


def _volume_lines(volumes: list[dict[str, Any]]) -> list[str]:  # noqa: PLR0912 - a case per source
    if not volumes:
        return ["Volumes:\t<none>"]
    lines = ["Volumes:"]
    for volume in volumes:
        lines.append(f"{L1}{volume.get('name', '')}:")
        if "hostPath" in volume:
            host_path = volume["hostPath"] or {}
            lines += [f"{L2}Type:\tHostPath (bare host directory volume)",
                      f"{L2}Path:\t{host_path.get('path', '')}",
                      f"{L2}HostPathType:\t{host_path.get('type', '')}"]
        elif "emptyDir" in volume:
            empty = volume["emptyDir"] or {}
            lines += [f"{L2}Type:\tEmptyDir (a temporary directory that shares a pod's lifetime)",
                      f"{L2}Medium:\t{empty.get('medium', '')}",
                      f"{L2}SizeLimit:\t{empty.get('sizeLimit') or '<unset>'}"]
        elif "configMap" in volume:
            cm = volume["configMap"] or {}
            lines += [f"{L2}Type:\tConfigMap (a volume populated by a ConfigMap)",
                      f"{L2}Name:\t{cm.get('name', '')}",
                      f"{L2}Optional:\t{'true' if cm.get('optional') else 'false'}"]
        elif "secret" in volume:
            secret = volume["secret"] or {}
            lines += [f"{L2}Type:\tSecret (a volume populated by a Secret)",
                      f"{L2}SecretName:\t{secret.get('secretName', '')}",
                      f"{L2}Optional:\t{'true' if secret.get('optional') else 'false'}"]
        elif "downwardAPI" in volume:
            lines.append(f"{L2}Type:\tDownwardAPI (a volume populated by information about"
                         " the pod)")
            lines.append(f"{L2}Items:")
            for item in (volume["downwardAPI"] or {}).get("items") or []:
                ref = item.get("fieldRef") or item.get("resourceFieldRef") or {}
                what = ref.get("fieldPath") or ref.get("resource", "")
                lines.append(f"{L3}{what} -> {item.get('path', '')}")
        elif "projected" in volume:
            lines.append(f"{L2}Type:\tProjected (a volume that contains injected data from "
                         "multiple sources)")
            for source in (volume["projected"] or {}).get("sources") or []:
                if "configMap" in source:
                    lines += [f"{L2}ConfigMapName:\t{source['configMap'].get('name', '')}",
                              f"{L2}Optional:\t"
                              f"{'true' if source['configMap'].get('optional') else 'false'}"]
                elif "secret" in source:
                    lines += [f"{L2}SecretName:\t{source['secret'].get('name', '')}",
                              f"{L2}Optional:\t"
                              f"{'true' if source['secret'].get('optional') else 'false'}"]
                elif "downwardAPI" in source:
                    lines.append(f"{L2}DownwardAPI:\ttrue")
        else:
            lines.append(f"{L1}<unknown>")
    return lines


def _labels_lines(title: str, labels: dict[str, str] | None) -> list[str]:
    if not labels:
        return [f"{title}:\t<none>"]
    keys = sorted(labels)
    return [f"{title}:\t{keys[0]}={labels[keys[0]]}"] + [f"\t{k}={labels[k]}" for k in keys[1:]]


MAX_ANNOTATION_LEN = 140


def _annotation_lines(annotations: dict[str, str] | None) -> list[str]:
    keys = sorted(k for k in (annotations or {})
                  if k != "kubectl.kubernetes.io/last-applied-configuration")
    if not annotations or not keys:
        return ["Annotations:\t<none>"]
    lines = []
    for i, key in enumerate(keys):
        lead = "Annotations:\t" if i == 0 else "\t"
        value = str(annotations[key]).removesuffix("\n")
        if len(value) + len(key) + 2 > MAX_ANNOTATION_LEN or "\n" in value:
            lines.append(f"{lead}{key}:")
            for part in value.split("\n"):
                short = part if len(part) <= MAX_ANNOTATION_LEN - 2 \
                    else part[:MAX_ANNOTATION_LEN - 2] + "..."
                lines.append(f"\t  {short}")
        else:
            lines.append(f"{lead}{key}: {value}")
    return lines


def _namespace_lines(record: PodRecord) -> list[str]:
    """minipod's own section: whose namespaces each process is in."""
    host_ns = host.host_namespaces()
    pod_ns = record.pause.namespaces
    lines = ["Namespaces:"]

    def block(title: str, pid: Any, namespaces: dict[str, int], is_pause: bool) -> None:
        if not pid or not namespaces:
            lines.append(f"{L1}{title}:\t<not running>")
            return
        lines.append(f"{L1}{title}:")
        lines.append(f"{L2}PID:\t{pid}")
        for kind in NAMESPACE_KINDS:
            if kind not in namespaces:
                continue
            inode = namespaces[kind]
            whose = ""
            if not is_pause and pod_ns.get(kind) == inode and host_ns.get(kind) != inode:
                whose = " (pod)"
            elif host_ns.get(kind) == inode:
                whose = " (host)"
            lines.append(f"{L2}{kind}:\t{kind}:[{inode}]{whose}")

    block("pause", record.pause.pid, pod_ns, True)
    for name, container in containers_in_order(record):
        pid = container.process.pid if container.running and container.process else None
        block(name, pid, container.namespaces, False)
    return lines


@dataclass
class _Aggregate:
    first: float
    last: float
    count: int
    event: Event


def _aggregate(events: list[Event]) -> list[_Aggregate]:
    """The event recorder's aggregation: one line per identical (type, reason,
    message), with its count, first and last time; sorted by the last time."""
    seen: dict[tuple[str, str, str, str], _Aggregate] = {}
    for event in events:
        key = (event.type, event.reason, event.obj, event.message)
        agg = seen.get(key)
        if agg is None:
            seen[key] = _Aggregate(event.timestamp, event.timestamp, 1, event)
        else:
            agg.last, agg.count = max(agg.last, event.timestamp), agg.count + 1
            agg.first = min(agg.first, event.timestamp)
    return sorted(seen.values(), key=lambda a: a.last)


def _events_text(events: list[Event], now: float) -> str:
    if not events:
        return "Events:\t<none>\n"
    text = f"Events:\n{L1}Type\tReason\tAge\tFrom\tMessage\n{L1}----\t------\t----\t----\t-------\n"
    for agg in _aggregate(events):
        first = human_age(now - agg.first)
        age = first if agg.count == 1 else \
            f"{human_age(now - agg.last)} (x{agg.count} over {first})"
        e = agg.event
        text += f"{L1}{e.type}\t{e.reason}\t{age}\tminipod\t{e.message.strip()}\n"
    return text


def describe_pod(entry: PodEntry, now: float) -> str:
    record, obj = entry.record, entry.object
    meta, spec = obj.get("metadata") or {}, obj.get("spec") or {}
    status = obj.get("status") or {}
    lines = [f"Name:\t{entry.name}", f"Namespace:\t{entry.namespace}", "Priority:\t0",
             f"Node:\t{host.node_name()}"]
    started = parse_time(status.get("startTime"))
    if started is not None:
        lines.append(f"Start Time:\t{rfc1123z(started)}")
    lines += _labels_lines("Labels", meta.get("labels"))
    lines += _annotation_lines(meta.get("annotations"))
    phase = status.get("phase") or record.phase
    deleted = parse_time(meta.get("deletionTimestamp"))
    if deleted is not None and phase not in ("Succeeded", "Failed"):
        grace = spec.get("terminationGracePeriodSeconds", 30)
        lines += [f"Status:\tTerminating (lasts {human_age(now - deleted)})",
                  f"Termination Grace Period:\t{grace}s"]
    else:
        lines.append(f"Status:\t{phase}")
    if phase not in ("Succeeded", "Failed") and not supervised(record):
        lines += ["Reason:\tNodeLost",
                  f"Message:\tits supervisor (pid {record.supervisor.pid}) is gone; "
                  f"`minipod delete pod {entry.name}` stops what is left"]
    elif status.get("message"):
        lines.append(f"Message:\t{status['message']}")
    ips = status.get("podIPs") or []
    lines.append(f"IP:\t{ips[0].get('ip', '') if ips else ''}")
    if ips:
        lines.append("IPs:")
        lines += [f"{L1}IP:\t{ip.get('ip', '')}" for ip in ips]
    else:
        lines.append("IPs:\t<none>")
    if spec.get("initContainers"):
        lines += _containers_section("Init Containers", spec["initContainers"],
                                     status.get("initContainerStatuses") or [], obj, record)
    lines += _containers_section("Containers", spec.get("containers") or [],
                                 status.get("containerStatuses") or [], obj, record)
    conditions = status.get("conditions") or []
    if conditions:
        lines.append("Conditions:")
        lines.append(f"{L1}Type\tStatus")
        lines += [f"{L1}{c.get('type', '')} \t{c.get('status', '')} " for c in conditions]
    lines += _volume_lines(spec.get("volumes") or [])
    lines += [f"QoS Class:\t{status.get('qosClass') or 'BestEffort'}"]
    if record.cgroup:
        lines.append(f"Cgroup:\t{record.cgroup}")
    lines += ["Node-Selectors:\t<none>", "Tolerations:\t<none>"]
    lines += _namespace_lines(record)
    events = read_events(entry.directory / "events.jsonl")
    tab = TabWriter(0, 2)
    if not events:  # no flush before "Events: <none>": it joins the block above
        return tab.format("\n".join(lines) + "\n" + _events_text(events, now))
    return tab.format("\n".join(lines) + "\n") + TabWriter(0, 2).format(
        _events_text(events, now))


def describe_config(record: ConfigRecord) -> str:
    """kubectl's describeConfigMap and describeSecret: a Secret's values are
    never shown, only their sizes; a ConfigMap's data in full."""
    c = record.config
    lines = [f"Name:\t{c.name}", f"Namespace:\t{c.namespace}"]
    lines += _labels_lines("Labels", c.labels)
    lines += _annotation_lines(c.annotations)
    if c.kind == "Secret":
        lines += ["", f"Type:\t{c.type or 'Opaque'}", "", "Data", "===="]
        lines += [f"{key}:\t{len(c.data[key])} bytes" for key in sorted(c.data)]
        return TabWriter(0, 2).format("\n".join(lines) + "\n")
    text = TabWriter(0, 2).format("\n".join(lines) + "\n")
    text += "\nData\n====\n"
    for key in sorted(k for k in c.data if k not in c.binary_keys):
        text += f"{key}:\n----\n{c.data[key].decode(errors='replace')}\n\n"
    text += "\nBinaryData\n====\n"
    for key in sorted(c.binary_keys):
        text += f"{key}: {len(c.data[key])} bytes\n"
    return text + "\nEvents:  <none>\n"


def _describe_configs(args: argparse.Namespace, kind: str, words: list[str]) -> int:
    # start-up: imported with the verb that needs it
    from minipod.kernel import configstore

    plural = "configmaps" if kind == "ConfigMap" else "secrets"
    if words:
        records = []
        for name in words:
            record = configstore.load(kind, args.namespace, name)
            if record is None:
                raise ViewError(f'Error from server (NotFound): {plural} "{name}" not found')
            records.append(record)
    else:
        records = configstore.list_records(kind, args.namespace)
        if not records:
            print(f"No resources found in {args.namespace} namespace.", file=sys.stderr)
            return 0
    write("\n\n".join(describe_config(r) for r in records))
    return 0


def describe_service(record: ServiceRecord) -> str:
    """kubectl's describeService: the Service's addresses, and per port its
    target and its ready endpoints (formatEndpoints)."""
    # start-up: imported with the verb that needs it
    from minipod.api.record import EndpointsRecord
    from minipod.cli.views.services import endpoints_record, endpoints_text, selector_text

    meta = record.api_object.get("metadata") or {}
    spec = record.api_object.get("spec") or {}
    found = endpoints_record(record.namespace, record.name)
    lines = [f"Name:\t{record.name}", f"Namespace:\t{record.namespace}",
             *_labels_lines("Labels", meta.get("labels")),
             *_annotation_lines(meta.get("annotations")),
             f"Selector:\t{selector_text(record.selector)}", f"Type:\t{record.type}",
             "IP Family Policy:\tSingleStack", "IP Families:\tIPv4",
             f"IP:\t{record.cluster_ip}", f"IPs:\t{record.cluster_ip}"]
    for port in record.ports:
        name = port.name or "<unset>"
        lines.append(f"Port:\t{name}  {port.port}/{port.protocol}")
        lines.append(f"TargetPort:\t{port.target_port}/{port.protocol}")
        if port.node_port:
            lines.append(f"NodePort:\t{name}  {port.node_port}/{port.protocol}")
        key = port.name or str(port.port)
        subset = EndpointsRecord(record.name, record.namespace,
                                 {key: found.ports.get(key, [])} if found else {}, 0.0)
        lines.append(f"Endpoints:\t{endpoints_text(subset).replace('<none>', '')}")
    lines.append(f"Session Affinity:\t{spec.get('sessionAffinity', 'None')}")
    if record.type == "NodePort":
        lines.append(f"External Traffic Policy:\t{spec.get('externalTrafficPolicy', 'Cluster')}")
    lines.append(f"Internal Traffic Policy:\t{spec.get('internalTrafficPolicy', 'Cluster')}")
    lines.append("Events:\t<none>")
    return TabWriter(0, 2).format("".join(line + "\n" for line in lines))


def _describe_services(args: argparse.Namespace, words: list[str]) -> int:
    # start-up: imported with the verb that needs it
    from minipod.cli.views.services import service_record, service_records

    if words:
        records = []
        for name in words:
            record = service_record(args.namespace, name)
            if record is None:
                raise ViewError(f'Error from server (NotFound): services "{name}" not found')
            records.append(record)
    else:
        records = service_records(args.namespace)
        if not records:
            print(f"No resources found in {args.namespace} namespace.", file=sys.stderr)
            return 0
    write("\n\n".join(describe_service(r) for r in records))
    return 0


# the kinds `describe` takes, by the registry's kind (resources.RESOURCES)
DESCRIBED = ("Pod", "ConfigMap", "Secret", "Service")


def cmd_describe(args: argparse.Namespace) -> int:
    # start-up: imported with the verb that needs it
    from minipod.cli.views.resources import resource

    words = list(args.names)
    kind, sep, first = args.resource.partition("/")
    if sep:
        words.insert(0, first)
    res = resource(kind)  # kubectl's words, the same as every verb's
    if res.kind not in DESCRIBED:
        raise ViewError(f"error: minipod describe takes pods, configmaps, secrets and "
                        f"services, not {res.plural}")
    if res.kind in ("ConfigMap", "Secret"):
        return _describe_configs(args, res.kind, words)
    if res.kind == "Service":
        return _describe_services(args, words)
    if words:
        entries = [require_pod(args.namespace, name) for name in words]
    else:
        entries = list_pods(args.namespace)
        if not entries:
            print(f"No resources found in {args.namespace} namespace.", file=sys.stderr)
            return 0
    now = host.now()
    write("\n\n".join(describe_pod(e, now) for e in entries))
    return 0

