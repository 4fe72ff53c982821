"""The v1 Pod validator (minipod.api.podspec and the modules it calls: probespec,
volumespec, securitycontext, meta, fields), through parse_pods: defaults, and
the table of bad manifests with the exact field path and message of each."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from manifests import DELETE, base, container, describe, edit, errors_of, rich_pod

from minipod.api.errors import FieldError
from minipod.api.manifest import parse_pods
from minipod.api.model import (
    ContainerPort,
    EnvVar,
    ExecAction,
    GRPCAction,
    HTTPGetAction,
    HTTPHeader,
    TCPSocketAction,
    Volume,
    VolumeMount,
)

# ---------------------------------------------------------------------------
# a valid manifest, with defaults
# ---------------------------------------------------------------------------


def test_rich_manifest_metadata_and_pod_defaults() -> None:
    pod = rich_pod()
    assert pod.name == "web"
    assert pod.namespace == "default"
    assert pod.labels == {"app": "web", "example.com/tier": "front"}
    assert pod.annotations == {"example.com/owner": "team a"}
    assert pod.source == "rich.yaml"
    spec = pod.spec
    assert spec.restart_policy == "Always"
    assert spec.termination_grace_period_seconds == 30
    assert spec.hostname == "www"
    assert spec.subdomain is None
    assert spec.share_process_namespace is True
    assert spec.security_context is not None
    assert (spec.security_context.run_as_user, spec.security_context.run_as_group) == (1000, 1000)
    assert [c.name for c in spec.containers] == ["app", "worker"]
    assert [c.name for c in spec.init_containers] == ["setup", "proxy"]


def test_rich_manifest_volumes() -> None:
    assert rich_pod().spec.volumes == (
        Volume("shared", empty_dir=True),
        Volume("cache", empty_dir=True, empty_dir_medium="Memory", empty_dir_size_limit=64 << 20),
        Volume("logs", host_path="/var/log/web", host_path_type="DirectoryOrCreate"),
    )


def test_rich_manifest_container_fields() -> None:
    app, worker = rich_pod().spec.containers
    assert app.image == "web:1.0"
    assert app.image_pull_policy == "Always"
    assert worker.image_pull_policy == "Always"  # busybox: no tag
    assert app.command is None  # the image's ENTRYPOINT
    assert app.args == ()  # explicitly empty: not the image's CMD
    assert worker.command == ("sleep", "infinity")
    assert worker.args is None
    assert app.working_dir == "/srv"
    # duplicates are kept, in order; a missing value is ""
    assert app.env == (EnvVar("MODE", "prod"), EnvVar("EMPTY", ""), EnvVar("MODE", "again"))
    assert app.ports == (ContainerPort(8080, "http", "TCP"), ContainerPort(8080, None, "UDP"))
    assert app.volume_mounts == (
        VolumeMount("shared", "/shared", read_only=True),
        VolumeMount("cache", "/cache"),
        VolumeMount("logs", "/logs"),
    )
    assert app.security_context is not None
    assert app.security_context.run_as_user == 0
    assert app.restart_policy is None


def test_rich_manifest_probes_and_defaults() -> None:
    app = rich_pod().spec.containers[0]
    liveness = app.liveness_probe
    assert liveness is not None
    assert liveness.handler == HTTPGetAction(
        port="http", path="/healthz", scheme="HTTPS", http_headers=(HTTPHeader("X-Probe", "1"),)
    )
    assert liveness.initial_delay_seconds == 5
    assert liveness.period_seconds == 10
    assert liveness.timeout_seconds == 1
    assert liveness.success_threshold == 1
    assert liveness.failure_threshold == 3
    assert liveness.termination_grace_period_seconds == 3
    readiness = app.readiness_probe
    assert readiness is not None
    assert readiness.handler == ExecAction(("cat", "/tmp/ready"))
    assert readiness.period_seconds == 10  # 0 is defaulted, as SetDefaults_Probe does
    assert readiness.success_threshold == 2
    assert readiness.termination_grace_period_seconds is None
    startup = app.startup_probe
    assert startup is not None
    assert startup.handler == HTTPGetAction(port=8080, path="/", host=None, scheme="HTTP")
    assert (startup.period_seconds, startup.failure_threshold) == (2, 30)


def test_rich_manifest_lifecycle_and_sidecar() -> None:
    spec = rich_pod().spec
    lifecycle = spec.containers[0].lifecycle
    assert lifecycle is not None
    assert lifecycle.post_start is not None
    assert lifecycle.post_start.exec == ExecAction(("touch", "/tmp/started"))
    assert lifecycle.pre_stop is not None
    assert lifecycle.pre_stop.sleep_seconds == 5
    setup, proxy = spec.init_containers
    assert setup.restart_policy is None
    assert proxy.restart_policy == "Always"
    assert proxy.startup_probe is not None
    assert proxy.startup_probe.handler == TCPSocketAction(port="admin")
    assert proxy.liveness_probe is not None
    assert proxy.liveness_probe.handler == GRPCAction(port=9901, service="")


def test_minimal_manifest_defaults() -> None:
    (pod,) = parse_pods(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec:\n"
        "  containers: [{name: c, image: busybox}]\n"
    )
    assert pod.namespace == "default"
    assert pod.labels == {} and pod.annotations == {}
    assert pod.source == "<manifest>"
    assert pod.spec.restart_policy == "Always"
    assert pod.spec.termination_grace_period_seconds == 30
    assert pod.spec.volumes == () and pod.spec.init_containers == ()
    assert pod.spec.security_context is None
    (app,) = pod.spec.containers
    assert app.image_pull_policy == "Always"  # no tag: the API server defaults Always
    assert app.command is None and app.args is None
    assert app.liveness_probe is None and app.lifecycle is None


def test_null_fields_count_as_absent() -> None:
    doc = base()
    doc["spec"]["containers"][0]["command"] = None
    doc["spec"]["restartPolicy"] = None
    (pod,) = parse_pods(yaml.safe_dump(doc))
    assert pod.spec.containers[0].command is None
    assert pod.spec.restart_policy == "Always"


def test_empty_dir_without_a_value() -> None:
    (pod,) = parse_pods(edit("spec.volumes[0].emptyDir", None))
    assert pod.spec.volumes[0] == Volume("data", empty_dir=True)


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ("64Mi", 64 * 2**20),
        ("1Gi", 2**30),
        ("1.5Gi", 3 * 2**29),
        ("500M", 500 * 10**6),
        ("2k", 2000),
        ("1e3", 1000),
        ("1E", 10**18),
        (4096, 4096),
        ("4096", 4096),
        ("1000m", 1),
    ],
)
def test_size_limit_quantities(size: object, expected: int) -> None:
    (pod,) = parse_pods(edit("spec.volumes[0].emptyDir", {"sizeLimit": size}))
    assert pod.spec.volumes[0].empty_dir_size_limit == expected


# ---------------------------------------------------------------------------
# bad manifests: (text, exact path, part of the message)
# ---------------------------------------------------------------------------

TWO_WEBS = f"{edit('metadata.name', 'web')}---\n{edit('metadata.name', 'web')}"
LIVENESS = "spec.containers[0].livenessProbe"
EXEC_TRUE = {"exec": {"command": ["true"]}}
VOLUME0 = "spec.volumes[0]"


def probe(**fields: Any) -> dict[str, Any]:
    return {"exec": {"command": ["true"]}, **fields}


BAD: list[tuple[str, str, str, str]] = [
    # --- the document itself
    ("kind Deployment", edit("kind", "Deployment"), "kind",
     '"Deployment" is not supported by minipod (v1 Deployment "web"; supported: Pod)'),
    ("kind missing", edit("kind", DELETE), "kind", "Required value"),
    ("apiVersion apps/v1", edit("apiVersion", "apps/v1"), "apiVersion",
     '"apps/v1" is not supported (supported: v1)'),
    ("yaml syntax", "apiVersion: v1\nkind: Pod\nmetadata: {name: [web\n", "",
     "invalid YAML at line 4, column 1"),
    ("yaml duplicate key", "apiVersion: v1\nkind: Pod\nkind: Pod\n", "",
     'line 3, column 1: found duplicate key "kind"'),
    ("empty file", "# nothing\n", "", "no Pod found"),
    ("not a mapping", "- a\n- b\n", "", "must be a mapping"),
    ("unknown top-level key", edit("spek", {}), "spek",
     'unknown field "spek"; did you mean "spec"?'),
    ("unknown key, small level", edit("zzz", 1), "zzz",
     'unknown field "zzz" (allowed: apiVersion, kind, metadata, spec)'),
    ("duplicate pod names", TWO_WEBS, "doc[1].metadata.name", 'Duplicate value: "web"'),
    ("spec missing", edit("spec", DELETE), "spec", "Required value"),
    # --- metadata
    ("name missing", edit("metadata.name", DELETE), "metadata.name", "Required value"),
    ("name not DNS", edit("metadata.name", "My_Pod"), "metadata.name",
     'Invalid value: "My_Pod": a lowercase RFC 1123 subdomain'),
    ("name too long", edit("metadata.name", "a" * 254), "metadata.name",
     "must be no more than 253 characters"),
    ("name an int", edit("metadata.name", 42), "metadata.name",
     "must be a string (got number 42)"),
    ("generateName", edit("metadata.generateName", "web-"), "metadata.generateName",
     "not supported by minipod"),
    ("namespace not a label", edit("metadata.namespace", "team.a"), "metadata.namespace",
     "RFC 1123 label"),
    ("label value", edit("metadata.labels", {"app": "-web-"}), "metadata.labels",
     'Invalid value: "-web-": a valid label must be an empty string'),
    ("label value too long", edit("metadata.labels", {"app": "a" * 64}), "metadata.labels",
     "must be no more than 63 characters"),
    ("label value an int", edit("metadata.labels", {"version": 2}), "metadata.labels",
     'value of "version" must be a string (got number 2)'),
    ("label value null", edit("metadata.labels", {"app": None}), "metadata.labels",
     'value of "app" must be a string (got null)'),
    ("label key", edit("metadata.labels", {"a/b/c": "x"}), "metadata.labels",
     "at most one '/'"),
    ("label key prefix", edit("metadata.labels", {"Example.com/x": "y"}), "metadata.labels",
     "prefix part a lowercase RFC 1123 subdomain"),
    ("annotations too big", edit("metadata.annotations", {"a": "x" * 262144}),
     "metadata.annotations", "must have at most 262144 bytes"),
    # --- pod spec
    ("hostNetwork", edit("spec.hostNetwork", True), "spec.hostNetwork",
     "not supported by minipod"),
    ("nodeSelector", edit("spec.nodeSelector", {"a": "b"}), "spec.nodeSelector",
     "not supported by minipod"),
    ("pod resources", edit("spec.resources", {}), "spec.resources", "not supported by minipod"),
    ("typo in spec", edit("spec.restartPolicyy", "Never"), "spec.restartPolicyy",
     'did you mean "restartPolicy"?'),
    ("no containers", edit("spec.containers", []), "spec.containers", "Required value"),
    ("containers not a list", edit("spec.containers", {"name": "app"}), "spec.containers",
     "must be a list (got a mapping)"),
    ("bad restartPolicy", edit("spec.restartPolicy", "Sometimes"), "spec.restartPolicy",
     'Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"'),
    ("negative grace", edit("spec.terminationGracePeriodSeconds", -1),
     "spec.terminationGracePeriodSeconds", "must be >= 0"),
    ("string for int", edit("spec.terminationGracePeriodSeconds", "5"),
     "spec.terminationGracePeriodSeconds", 'must be an integer (got string "5")'),
    ("float for int", edit("spec.terminationGracePeriodSeconds", 1.5),
     "spec.terminationGracePeriodSeconds", "must be an integer"),
    ("string for bool", edit("spec.shareProcessNamespace", "true"),
     "spec.shareProcessNamespace", "must be a boolean"),
    ("hostname", edit("spec.hostname", "my.host"), "spec.hostname", "RFC 1123 label"),
    ("pod seLinuxOptions", edit("spec.securityContext", {"seLinuxOptions": {}}),
     "spec.securityContext.seLinuxOptions", "not supported by minipod"),
    ("fsGroup negative", edit("spec.securityContext", {"fsGroup": -1}),
     "spec.securityContext.fsGroup", "must be between 0 and 2147483647, inclusive"),
    ("supplementalGroups item", edit("spec.securityContext", {"supplementalGroups": [1, "2"]}),
     "spec.securityContext.supplementalGroups[1]", "must be an integer"),
    ("fsGroupChangePolicy", edit("spec.securityContext", {"fsGroupChangePolicy": "Never"}),
     "spec.securityContext.fsGroupChangePolicy",
     'Unsupported value: "Never": supported values: "OnRootMismatch", "Always"'),
    ("unsafe sysctl",
     edit("spec.securityContext", {"sysctls": [{"name": "kernel.msgmax", "value": "1"}]}),
     "spec.securityContext.sysctls[0].name",
     'forbidden sysctl: "kernel.msgmax" not allowlisted'),
    ("host sysctl",
     edit("spec.securityContext", {"sysctls": [{"name": "kernel/core_pattern", "value": "x"}]}),
     "spec.securityContext.sysctls[0].name",
     'forbidden sysctl: "kernel.core_pattern" not allowlisted'),
    ("bad sysctl name",
     edit("spec.securityContext", {"sysctls": [{"name": "Net.x", "value": "1"}]}),
     "spec.securityContext.sysctls[0].name", "must have at most 253 characters and match regex"),
    ("duplicate sysctl",
     edit("spec.securityContext", {"sysctls": [{"name": "net.ipv4.tcp_syncookies", "value": "1"},
                                               {"name": "net.ipv4.tcp_syncookies", "value": "0"}]}),
     "spec.securityContext.sysctls[1].name", 'Duplicate value: "net.ipv4.tcp_syncookies"'),
    ("sysctl value missing",
     edit("spec.securityContext", {"sysctls": [{"name": "net.ipv4.tcp_syncookies"}]}),
     "spec.securityContext.sysctls[0].value", "Required value"),
    ("seccomp type missing", edit("spec.securityContext", {"seccompProfile": {}}),
     "spec.securityContext.seccompProfile.type", "Required value"),
    ("seccomp type", edit("spec.securityContext", {"seccompProfile": {"type": "Default"}}),
     "spec.securityContext.seccompProfile.type",
     'Unsupported value: "Default": supported values: "Localhost", "RuntimeDefault", '
     '"Unconfined"'),
    ("seccomp Localhost without a profile",
     edit("spec.securityContext", {"seccompProfile": {"type": "Localhost"}}),
     "spec.securityContext.seccompProfile.localhostProfile",
     "Required value: must be set when seccomp type is Localhost"),
    ("seccomp profile absolute",
     edit("spec.securityContext", {"seccompProfile": {"type": "Localhost",
                                                      "localhostProfile": "/etc/x.json"}}),
     "spec.securityContext.seccompProfile.localhostProfile", "must be a relative path"),
    ("seccomp profile ..",
     edit("spec.securityContext", {"seccompProfile": {"type": "Localhost",
                                                      "localhostProfile": "a/../../x.json"}}),
     "spec.securityContext.seccompProfile.localhostProfile", "must not contain '..'"),
    ("seccomp profile with RuntimeDefault",
     edit("spec.securityContext", {"seccompProfile": {"type": "RuntimeDefault",
                                                      "localhostProfile": "x.json"}}),
     "spec.securityContext.seccompProfile.localhostProfile",
     "can only be set when seccomp type is Localhost"),
    ("runAsUser negative", edit("spec.securityContext", {"runAsUser": -1}),
     "spec.securityContext.runAsUser", "must be between 0 and 2147483647, inclusive"),
    # --- containers
    ("duplicate name init/app",
     edit("spec.initContainers", [container("setup"), container("app")]),
     "spec.initContainers[1].name", 'Duplicate value: "app"'),
    ("duplicate name app/app", edit("spec.containers[1]", container("app")),
     "spec.containers[1].name", 'Duplicate value: "app"'),
    ("container name", edit("spec.containers[0].name", "App"), "spec.containers[0].name",
     "RFC 1123 label"),
    ("image missing", edit("spec.containers[0].image", DELETE), "spec.containers[0].image",
     "Required value"),
    ("image whitespace", edit("spec.containers[0].image", " busybox"),
     "spec.containers[0].image", "must not have leading or trailing whitespace"),
    ("bad pull policy", edit("spec.containers[0].imagePullPolicy", "Sometimes"),
     "spec.containers[0].imagePullPolicy", 'Unsupported value: "Sometimes"'),
    ("command not a list", edit("spec.containers[0].command", "sleep 1"),
     "spec.containers[0].command", "must be a list"),
    ("args item an int", edit("spec.containers[0].args", ["sleep", 1]),
     "spec.containers[0].args[1]", "must be a string (got number 1)"),
    ("relative workingDir", edit("spec.containers[0].workingDir", "srv"),
     "spec.containers[0].workingDir", "must be an absolute path"),
    ("container resource claims", edit("spec.containers[0].resources", {"claims": []}),
     "spec.containers[0].resources.claims", "not supported by minipod"),
    ("terminationMessagePath", edit("spec.containers[0].terminationMessagePath", "/tmp/x"),
     "spec.containers[0].terminationMessagePath", "only the default /dev/termination-log"),
    ("tty", edit("spec.containers[0].tty", True), "spec.containers[0].tty",
     "not supported by minipod"),
    ("restartPolicy on app container", edit("spec.containers[0].restartPolicy", "Always"),
     "spec.containers[0].restartPolicy", "not supported by minipod"),
    ("init restartPolicy Never",
     edit("spec.initContainers", [container("setup", restartPolicy="Never")]),
     "spec.initContainers[0].restartPolicy", 'supported values: "Always"'),
    ("privileged not a bool", edit("spec.containers[0].securityContext", {"privileged": "yes"}),
     "spec.containers[0].securityContext.privileged", "must be a boolean"),
    ("no escalation but privileged",
     edit("spec.containers[0].securityContext", {"privileged": True,
                                                 "allowPrivilegeEscalation": False}),
     "spec.containers[0].securityContext",
     "cannot set `allowPrivilegeEscalation` to false and `privileged` to true"),
    ("no escalation but CAP_SYS_ADMIN",
     edit("spec.containers[0].securityContext", {"allowPrivilegeEscalation": False,
                                                 "capabilities": {"add": ["CAP_SYS_ADMIN"]}}),
     "spec.containers[0].securityContext",
     "cannot set `allowPrivilegeEscalation` to false and `capabilities.Add` CAP_SYS_ADMIN"),
    ("capability with CAP_",
     edit("spec.containers[0].securityContext", {"capabilities": {"drop": ["CAP_NET_RAW"]}}),
     "spec.containers[0].securityContext.capabilities.drop[0]",
     'capabilities are named without "CAP_" (e.g. "NET_RAW")'),
    ("no such capability",
     edit("spec.containers[0].securityContext", {"capabilities": {"add": ["NET_ADMN"]}}),
     "spec.containers[0].securityContext.capabilities.add[0]", "not a Linux capability"),
    ("procMount Unmasked",
     edit("spec.containers[0].securityContext", {"procMount": "Unmasked"}),
     "spec.containers[0].securityContext.procMount", "not supported by minipod"),
    ("container sysctls",
     edit("spec.containers[0].securityContext", {"sysctls": []}),
     "spec.containers[0].securityContext.sysctls", 'unknown field "sysctls"'),
    ("container appArmorProfile",
     edit("spec.containers[0].securityContext", {"appArmorProfile": {"type": "Unconfined"}}),
     "spec.containers[0].securityContext.appArmorProfile", "not supported by minipod"),
    # --- env
    ("env fieldRef without a path",
     edit("spec.containers[0].env", [{"name": "A", "valueFrom": {"fieldRef": {}}}]),
     "spec.containers[0].env[0].valueFrom.fieldRef.fieldPath", "Required value"),
    ("env fieldRef of all labels",
     edit("spec.containers[0].env", [{"name": "A", "valueFrom": {
         "fieldRef": {"fieldPath": "metadata.labels"}}}]),
     "spec.containers[0].env[0].valueFrom.fieldRef.fieldPath",
     'Unsupported value: "metadata.labels": supported values: "metadata.name"'),
    ("env valueFrom and value",
     edit("spec.containers[0].env", [{"name": "A", "value": "x", "valueFrom": {
         "fieldRef": {"fieldPath": "metadata.name"}}}]),
     "spec.containers[0].env[0].valueFrom", "may not be specified when `value` is not empty"),
    ("env two sources",
     edit("spec.containers[0].env", [{"name": "A", "valueFrom": {
         "fieldRef": {"fieldPath": "metadata.name"},
         "configMapKeyRef": {"name": "cm", "key": "k"}}}]),
     "spec.containers[0].env[0].valueFrom.fieldRef", "may not specify more than 1 source"),
    ("env configMapKeyRef bad key",
     edit("spec.containers[0].env", [{"name": "A", "valueFrom": {
         "configMapKeyRef": {"name": "cm", "key": "a/b"}}}]),
     "spec.containers[0].env[0].valueFrom.configMapKeyRef.key", "a valid config key"),
    ("env secretKeyRef without a name",
     edit("spec.containers[0].env", [{"name": "A", "valueFrom": {
         "secretKeyRef": {"key": "k"}}}]),
     "spec.containers[0].env[0].valueFrom.secretKeyRef.name", "Required value"),
    ("env resourceFieldRef bad divisor",
     edit("spec.containers[0].env", [{"name": "A", "valueFrom": {
         "resourceFieldRef": {"resource": "limits.cpu", "divisor": "2"}}}]),
     "spec.containers[0].env[0].valueFrom.resourceFieldRef.divisor",
     'Unsupported value: "2": supported values: "1m", "1"'),
    ("env resourceFieldRef bad resource",
     edit("spec.containers[0].env", [{"name": "A", "valueFrom": {
         "resourceFieldRef": {"resource": "limits.gpu"}}}]),
     "spec.containers[0].env[0].valueFrom.resourceFieldRef.resource",
     'Unsupported value: "limits.gpu"'),
    ("env fileKeyRef", edit("spec.containers[0].env", [{"name": "A", "valueFrom": {
        "fileKeyRef": {}}}]),
     "spec.containers[0].env[0].valueFrom.fileKeyRef", "not supported by minipod"),
    ("envFrom without a source", edit("spec.containers[0].envFrom", [{"prefix": "A_"}]),
     "spec.containers[0].envFrom[0]", "must specify a source (one of: configMapRef, secretRef)"),
    ("envFrom bad prefix",
     edit("spec.containers[0].envFrom", [{"prefix": "1", "configMapRef": {"name": "cm"}}]),
     "spec.containers[0].envFrom[0].prefix", "a valid environment variable name"),
    ("env bad name", edit("spec.containers[0].env", [{"name": "1A", "value": "x"}]),
     "spec.containers[0].env[0].name", "a valid environment variable name"),
    ("env value an int", edit("spec.containers[0].env", [{"name": "A", "value": 5}]),
     "spec.containers[0].env[0].value", "must be a string"),
    ("env name missing", edit("spec.containers[0].env", [{"value": "x"}]),
     "spec.containers[0].env[0].name", "Required value"),
    # --- ports
    ("port out of range", edit("spec.containers[0].ports[0].containerPort", 70000),
     "spec.containers[0].ports[0].containerPort", "must be between 1 and 65535, inclusive"),
    ("port missing", edit("spec.containers[0].ports[0].containerPort", DELETE),
     "spec.containers[0].ports[0].containerPort", "Required value"),
    ("boolean for int", edit("spec.containers[0].ports[0].containerPort", True),
     "spec.containers[0].ports[0].containerPort", "must be an integer (got boolean true)"),
    ("duplicate port name",
     edit("spec.containers[0].ports[1]", {"containerPort": 8081, "name": "http"}),
     "spec.containers[0].ports[1].name", 'Duplicate value: "http"'),
    ("bad port name", edit("spec.containers[0].ports[0].name", "Web_1"),
     "spec.containers[0].ports[0].name", "must contain only alpha-numeric characters"),
    ("port name too long", edit("spec.containers[0].ports[0].name", "a" * 16),
     "spec.containers[0].ports[0].name", "must be no more than 15 characters"),
    ("port name no letter", edit("spec.containers[0].ports[0].name", "8080"),
     "spec.containers[0].ports[0].name", "must contain at least one letter"),
    ("duplicate port/protocol", edit("spec.containers[0].ports[1]", {"containerPort": 8080}),
     "spec.containers[0].ports[1].containerPort", 'Duplicate value: "8080/TCP"'),
    ("bad protocol", edit("spec.containers[0].ports[0].protocol", "tcp"),
     "spec.containers[0].ports[0].protocol", 'Unsupported value: "tcp"'),
    ("hostPort out of range", edit("spec.containers[0].ports[0].hostPort", 65536),
     "spec.containers[0].ports[0].hostPort", "must be between 1 and 65535, inclusive"),
    ("hostIP not an address", edit("spec.containers[0].ports[0].hostIP", "here"),
     "spec.containers[0].ports[0].hostIP", 'Invalid value: "here": must be a valid IP'),
    ("hostIP IPv6", edit("spec.containers[0].ports[0].hostIP", "::1"),
     "spec.containers[0].ports[0].hostIP", "not supported by minipod (IPv4 only)"),
    # --- DNS
    ("dnsPolicy unknown", edit("spec.dnsPolicy", "Cluster"), "spec.dnsPolicy",
     'Unsupported value: "Cluster": supported values: "ClusterFirstWithHostNet", '
     '"ClusterFirst", "Default", "None"'),
    ("dnsPolicy None without dnsConfig", edit("spec.dnsPolicy", "None"), "spec.dnsConfig",
     "Required value: must provide `dnsConfig` when `dnsPolicy` is None"),
    ("dnsPolicy None without nameservers", edit("spec", {
        "dnsPolicy": "None", "dnsConfig": {"searches": ["a.b"]},
        "containers": [{"name": "c", "image": "busybox"}]}),
     "spec.dnsConfig.nameservers",
     "Required value: must provide at least one DNS nameserver when `dnsPolicy` is None"),
    ("dnsConfig four nameservers",
     edit("spec.dnsConfig", {"nameservers": ["1.1.1.1", "1.1.1.2", "1.1.1.3", "1.1.1.4"]}),
     "spec.dnsConfig.nameservers", "must not have more than 3 nameservers"),
    ("dnsConfig bad search", edit("spec.dnsConfig", {"searches": ["Bad_Domain"]}),
     "spec.dnsConfig.searches[0]", 'Invalid value: "Bad_Domain": a lowercase RFC 1123'),
    ("dnsConfig option without name", edit("spec.dnsConfig", {"options": [{"value": "1"}]}),
     "spec.dnsConfig.options[0]", "Required value: must not be empty"),
    ("enableServiceLinks not a bool", edit("spec.enableServiceLinks", "yes"),
     "spec.enableServiceLinks", "must be a boolean"),
    # --- volume mounts
    ("mount of unknown volume", edit("spec.containers[0].volumeMounts[0].name", "nope"),
     "spec.containers[0].volumeMounts[0].name", 'Not found: "nope"'),
    ("relative mountPath", edit("spec.containers[0].volumeMounts[0].mountPath", "data"),
     "spec.containers[0].volumeMounts[0].mountPath", "must be an absolute path"),
    ("mountPath with colon", edit("spec.containers[0].volumeMounts[0].mountPath", "/a:b"),
     "spec.containers[0].volumeMounts[0].mountPath", "must not contain ':'"),
    ("duplicate mountPath",
     edit("spec.containers[0].volumeMounts[1]", {"name": "data", "mountPath": "/data"}),
     "spec.containers[0].volumeMounts[1].mountPath", "must be unique"),
    ("subPath absolute", edit("spec.containers[0].volumeMounts[0].subPath", "/x"),
     "spec.containers[0].volumeMounts[0].subPath", 'Invalid value: "/x": must be a relative path'),
    ("subPath backsteps", edit("spec.containers[0].volumeMounts[0].subPath", "a/../../x"),
     "spec.containers[0].volumeMounts[0].subPath", "must not contain '..'"),
    ("subPathExpr", edit("spec.containers[0].volumeMounts[0].subPathExpr", "x"),
     "spec.containers[0].volumeMounts[0].subPathExpr", "not supported by minipod"),
    ("readOnly not bool", edit("spec.containers[0].volumeMounts[0].readOnly", "yes please"),
     "spec.containers[0].volumeMounts[0].readOnly", "must be a boolean"),
    # --- volumes
    ("nfs volume", edit(VOLUME0, {"name": "data", "nfs": {"server": "x", "path": "/"}}),
     f"{VOLUME0}.nfs", "not supported by minipod (supported: emptyDir, hostPath, configMap,"),
    ("configMap volume without a name", edit(VOLUME0, {"name": "data", "configMap": {}}),
     f"{VOLUME0}.configMap.name", "Required value"),
    ("configMap defaultMode too big",
     edit(VOLUME0, {"name": "data", "configMap": {"name": "cm", "defaultMode": 0o1777}}),
     f"{VOLUME0}.configMap.defaultMode",
     "Invalid value: 1023: must be a number between 0 and 0777 (octal), both inclusive"),
    ("configMap item path absolute",
     edit(VOLUME0, {"name": "data", "configMap": {"name": "cm", "items": [
         {"key": "k", "path": "/etc/k"}]}}),
     f"{VOLUME0}.configMap.items[0].path", "must be a relative path"),
    ("configMap item path reserved",
     edit(VOLUME0, {"name": "data", "configMap": {"name": "cm", "items": [
         {"key": "k", "path": "..data"}]}}),
     f"{VOLUME0}.configMap.items[0].path", "must not start with '..'"),
    ("secret volume without secretName", edit(VOLUME0, {"name": "data", "secret": {}}),
     f"{VOLUME0}.secret.secretName", "Required value"),
    ("downwardAPI bad path",
     edit(VOLUME0, {"name": "data", "downwardAPI": {"items": [
         {"path": "x", "fieldRef": {"fieldPath": "status.podIP"}}]}}),
     f"{VOLUME0}.downwardAPI.items[0].fieldRef.fieldPath",
     'Unsupported value: "status.podIP"'),
    ("downwardAPI resource without container",
     edit(VOLUME0, {"name": "data", "downwardAPI": {"items": [
         {"path": "x", "resourceFieldRef": {"resource": "limits.cpu"}}]}}),
     f"{VOLUME0}.downwardAPI.items[0].resourceFieldRef.containerName", "Required value"),
    ("projected token", edit(VOLUME0, {"name": "data", "projected": {"sources": [
        {"serviceAccountToken": {"path": "t"}}]}}),
     f"{VOLUME0}.projected.sources[0].serviceAccountToken", "not supported by minipod"),
    ("projected duplicate path", edit(VOLUME0, {"name": "data", "projected": {"sources": [
        {"configMap": {"name": "a", "items": [{"key": "k", "path": "p"}]}},
        {"secret": {"name": "b", "items": [{"key": "k", "path": "p"}]}}]}}),
     f"{VOLUME0}.projected.sources[1].secret.items", "conflicting duplicate paths"),
    ("no volume type", edit(VOLUME0, {"name": "data"}), VOLUME0,
     "must specify a volume type"),
    ("two volume types", edit(f"{VOLUME0}.hostPath", {"path": "/srv"}), f"{VOLUME0}.hostPath",
     "may not specify more than 1 volume type"),
    ("hostPath without a value", edit(VOLUME0, {"name": "data", "hostPath": None}), VOLUME0,
     "must specify a volume type"),
    ("duplicate volume name", edit("spec.volumes[1]", {"name": "data", "emptyDir": {}}),
     "spec.volumes[1].name", 'Duplicate value: "data"'),
    ("volume name", edit(f"{VOLUME0}.name", "Data"), f"{VOLUME0}.name", "RFC 1123 label"),
    ("emptyDir medium", edit(f"{VOLUME0}.emptyDir", {"medium": "HugePages"}),
     f"{VOLUME0}.emptyDir.medium", 'Unsupported value: "HugePages": supported values: "", '),
    ("sizeLimit not a quantity", edit(f"{VOLUME0}.emptyDir", {"sizeLimit": "lots"}),
     f"{VOLUME0}.emptyDir.sizeLimit", 'Invalid value: "lots": quantities must match'),
    ("sizeLimit fractional", edit(f"{VOLUME0}.emptyDir", {"sizeLimit": "500m"}),
     f"{VOLUME0}.emptyDir.sizeLimit", "must be a whole number of bytes"),
    ("sizeLimit zero", edit(f"{VOLUME0}.emptyDir", {"sizeLimit": 0}),
     f"{VOLUME0}.emptyDir.sizeLimit", "must be greater than 0"),
    ("relative hostPath", edit(VOLUME0, {"name": "data", "hostPath": {"path": "srv"}}),
     f"{VOLUME0}.hostPath.path", "must be an absolute path"),
    ("hostPath backsteps", edit(VOLUME0, {"name": "data", "hostPath": {"path": "/a/../b"}}),
     f"{VOLUME0}.hostPath.path", "must not contain '..'"),
    ("bad hostPath type",
     edit(VOLUME0, {"name": "data", "hostPath": {"path": "/srv", "type": "Dir"}}),
     f"{VOLUME0}.hostPath.type", 'Unsupported value: "Dir": supported values: "", '),
    # --- probes
    ("unknown field with suggestion",
     edit("spec.containers[0].livenessProve", EXEC_TRUE),
     "spec.containers[0].livenessProve", 'unknown field "livenessProve"; did you mean '
     '"livenessProbe"?'),
    ("periodSeconds -5", edit(LIVENESS, probe(periodSeconds=-5)), f"{LIVENESS}.periodSeconds",
     "must be >= 1"),
    ("timeoutSeconds -1", edit(LIVENESS, probe(timeoutSeconds=-1)),
     f"{LIVENESS}.timeoutSeconds", "must be >= 1"),
    ("initialDelaySeconds -1", edit(LIVENESS, probe(initialDelaySeconds=-1)),
     f"{LIVENESS}.initialDelaySeconds", "must be >= 0"),
    ("periodSeconds as string", edit(LIVENESS, probe(periodSeconds="5")),
     f"{LIVENESS}.periodSeconds", "must be an integer"),
    ("liveness successThreshold 2", edit(LIVENESS, probe(successThreshold=2)),
     f"{LIVENESS}.successThreshold", "must be 1"),
    ("startup successThreshold 3",
     edit("spec.containers[0].startupProbe", probe(successThreshold=3)),
     "spec.containers[0].startupProbe.successThreshold", "must be 1"),
    ("probe grace 0", edit(LIVENESS, probe(terminationGracePeriodSeconds=0)),
     f"{LIVENESS}.terminationGracePeriodSeconds", "must be >= 1"),
    ("readiness grace",
     edit("spec.containers[0].readinessProbe", probe(terminationGracePeriodSeconds=5)),
     "spec.containers[0].readinessProbe.terminationGracePeriodSeconds",
     "must not be set for readinessProbes"),
    ("two handlers", edit(LIVENESS, probe(tcpSocket={"port": 8080})), f"{LIVENESS}.tcpSocket",
     "may not specify more than 1 handler type"),
    ("no handler", edit(LIVENESS, {"periodSeconds": 5}), LIVENESS,
     "must specify a handler type (one of: exec, httpGet, tcpSocket, grpc)"),
    ("empty exec command", edit(LIVENESS, {"exec": {"command": []}}),
     f"{LIVENESS}.exec.command", "Required value"),
    ("named probe port not found", edit(LIVENESS, {"httpGet": {"port": "metrics"}}),
     f"{LIVENESS}.httpGet.port", 'port name "metrics" not found in container ports'),
    ("probe port out of range", edit(LIVENESS, {"tcpSocket": {"port": 0}}),
     f"{LIVENESS}.tcpSocket.port", "must be between 1 and 65535"),
    ("httpGet port missing", edit(LIVENESS, {"httpGet": {"path": "/"}}),
     f"{LIVENESS}.httpGet.port", "Required value"),
    ("grpc port name", edit(LIVENESS, {"grpc": {"port": "http"}}), f"{LIVENESS}.grpc.port",
     "must be an integer"),
    ("probe host name", edit(LIVENESS, {"httpGet": {"port": 8080, "host": "db.local"}}),
     f"{LIVENESS}.httpGet.host", "use an IP address or localhost"),
    ("tcp probe host name", edit(LIVENESS, {"tcpSocket": {"port": 5432, "host": "db"}}),
     f"{LIVENESS}.tcpSocket.host", 'Invalid value: "db": not supported by minipod'),
    ("bad scheme", edit(LIVENESS, {"httpGet": {"port": 8080, "scheme": "http"}}),
     f"{LIVENESS}.httpGet.scheme", 'Unsupported value: "http"'),
    ("bad header name",
     edit(LIVENESS, {"httpGet": {"port": 8080, "httpHeaders": [{"name": "X Y"}]}}),
     f"{LIVENESS}.httpGet.httpHeaders[0].name", "a valid HTTP header"),
    ("exec not a mapping", edit(LIVENESS, {"exec": ["true"]}), f"{LIVENESS}.exec",
     "must be a mapping (got a list)"),
    ("liveness on a regular init container",
     edit("spec.initContainers", [container("setup", livenessProbe=EXEC_TRUE)]),
     "spec.initContainers[0].livenessProbe", "may not be set for init containers"),
    ("lifecycle on a regular init container",
     edit("spec.initContainers", [container("setup", lifecycle={})]),
     "spec.initContainers[0].lifecycle", "may not be set for init containers"),
    # --- lifecycle
    ("lifecycle tcpSocket",
     edit("spec.containers[0].lifecycle", {"preStop": {"tcpSocket": {"port": 80}}}),
     "spec.containers[0].lifecycle.preStop.tcpSocket",
     "not supported (deprecated in Kubernetes)"),
    ("lifecycle two handlers",
     edit("spec.containers[0].lifecycle", {"preStop": {**EXEC_TRUE, "sleep": {"seconds": 1}}}),
     "spec.containers[0].lifecycle.preStop.sleep", "may not specify more than 1 handler type"),
    ("lifecycle no handler", edit("spec.containers[0].lifecycle", {"postStart": {}}),
     "spec.containers[0].lifecycle.postStart", "must specify a handler type"),
    ("negative sleep",
     edit("spec.containers[0].lifecycle", {"preStop": {"sleep": {"seconds": -1}}}),
     "spec.containers[0].lifecycle.preStop.sleep.seconds", "must be >= 0"),
    ("stopSignal", edit("spec.containers[0].lifecycle", {"stopSignal": "SIGUSR1"}),
     "spec.containers[0].lifecycle.stopSignal", "not supported by minipod"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "path", "message"), [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_manifest(text: str, path: str, message: str) -> None:
    errors = errors_of(text)
    assert any(e.path == path and message in e.message for e in errors), (
        f"expected {path!r}: ...{message}...; got\n{describe(errors)}"
    )


def test_bad_table_is_big_enough() -> None:
    assert len(BAD) >= 30


def test_sidecar_may_have_probes_and_lifecycle() -> None:
    sidecar = container(
        "proxy",
        restartPolicy="Always",
        livenessProbe=EXEC_TRUE,
        readinessProbe=EXEC_TRUE,
        startupProbe=EXEC_TRUE,
        lifecycle={"preStop": EXEC_TRUE},
    )
    (pod,) = parse_pods(edit("spec.initContainers", [sidecar]))
    assert pod.spec.init_containers[0].restart_policy == "Always"


def test_unknown_field_without_a_close_match_in_a_big_level() -> None:
    errors = errors_of(edit("spec.containers[0].zzzzzz", 1))
    assert errors == [FieldError("spec.containers[0].zzzzzz", 'unknown field "zzzzzz"')]


def test_server_set_metadata_and_status_are_ignored() -> None:
    doc = base()
    doc["metadata"].update(uid="x", resourceVersion="1", creationTimestamp=None, generation=3)
    doc["status"] = {"phase": "Running", "podIP": "10.0.0.2"}
    (pod,) = parse_pods(yaml.safe_dump(doc))
    assert pod.name == "web"
