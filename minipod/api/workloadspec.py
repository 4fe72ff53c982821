"""The apps/v1 Deployment and ReplicaSet validator (pkg/apis/apps/validation):
replicas, the label selector, the pod template (its labels matched against the
selector, its spec checked by podspec as any Pod's is, its restartPolicy
Always), and a Deployment's strategy, history limit and deadlines.
"""

from __future__ import annotations

import json
import re
from typing import cast

from minipod.api.errors import FieldError
from minipod.api.fields import (
    INT32_MAX,
    NOT_SUPPORTED,
    REQUIRED,
    Keys,
    Obj,
    check,
    get_enum,
    is_int,
    key_errors,
    keys,
    label_value_errors,
    qualified_name_errors,
    unsupported_value,
    wrong_type,
)
from minipod.api.meta import METADATA_KEYS, parse_annotations, parse_labels, parse_metadata
from minipod.api.model import (
    LabelSelector,
    LabelSelectorRequirement,
    PodSpec,
    PodTemplate,
    RollingUpdate,
    SelectorOperator,
    StrategyType,
    Workload,
    WorkloadKind,
)
from minipod.api.podspec import POD_SPEC_KEYS, parse_pod_spec

_WORKLOAD_KEYS = keys("apiVersion kind metadata spec", ignored="status")
_REPLICA_SET_SPEC_KEYS = keys("replicas selector template minReadySeconds")
_DEPLOYMENT_SPEC_KEYS = keys(
    "replicas selector template strategy minReadySeconds revisionHistoryLimit"
    " progressDeadlineSeconds paused"
)
_SELECTOR_KEYS = keys("matchLabels matchExpressions")
_REQUIREMENT_KEYS = keys("key operator values")
_SELECTOR_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")
_TEMPLATE_KEYS = keys("metadata spec")
# The controller names the pods and puts them in its own namespace, so a
# template's name and namespace are ignored, as by GetPodFromTemplate.
_TEMPLATE_METADATA_KEYS = Keys(
    ("labels", "annotations"), {}, METADATA_KEYS.ignored | {"name", "namespace", "generateName"}
)
_STRATEGY_KEYS = keys("type rollingUpdate")
_STRATEGY_TYPES = ("Recreate", "RollingUpdate")
_ROLLING_UPDATE_KEYS = keys("maxSurge maxUnavailable")
_NONNEGATIVE = "must be greater than or equal to 0"  # ValidateNonnegativeField
_PERCENT_RE = re.compile(r"[0-9]+%")
_PERCENT_MSG = (
    "a valid percent string must be a numeric string followed by an ending '%'"
    " (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')"
)
_DEFAULT_PROGRESS_DEADLINE = 600  # SetDefaults_Deployment
_DEFAULT_REVISION_HISTORY = 10


def parse_workload(top: Obj, kind: WorkloadKind, source: str) -> Workload:
    """A Deployment or ReplicaSet; returned even with errors, as parse_pod's Pod is."""
    top.errors.extend(key_errors(top.data, "", _WORKLOAD_KEYS))
    name, namespace, labels, annotations = parse_metadata(top)
    deployment = kind == "Deployment"
    keys = _DEPLOYMENT_SPEC_KEYS if deployment else _REPLICA_SET_SPEC_KEYS
    spec = top.get_mapping("spec", keys, required=True)
    if spec is None:
        empty = PodTemplate(PodSpec(containers=()))
        return Workload(kind, name, LabelSelector(), empty, namespace=namespace, source=source)
    replicas = _get_nonnegative(spec, "replicas", 1)
    selector = _parse_selector(spec)
    template = _parse_template(spec, selector)
    min_ready = _get_nonnegative(spec, "minReadySeconds", 0)
    strategy, rolling_update = _parse_strategy(spec) if deployment else ("RollingUpdate", None)
    if deployment:
        _refuse_paused(spec)
    return Workload(
        kind=kind,
        name=name,
        selector=selector or LabelSelector(),
        template=template,
        replicas=replicas,
        namespace=namespace,
        labels=labels,
        annotations=annotations,
        strategy=strategy,
        rolling_update=rolling_update,
        min_ready_seconds=min_ready,
        revision_history_limit=(
            _get_nonnegative(spec, "revisionHistoryLimit", _DEFAULT_REVISION_HISTORY)
            if deployment else None
        ),
        progress_deadline_seconds=_get_progress_deadline(spec, min_ready) if deployment else None,
        source=source,
        manifest_spec=dict(spec.data),
    )


def _get_nonnegative(obj: Obj, key: str, default: int) -> int:
    value = obj.get_int(key)
    if value is None:
        return default
    if value < 0:
        obj.fail(key, f"Invalid value: {value}: {_NONNEGATIVE}")
        return default
    if value > INT32_MAX:
        obj.fail(key, f"must be <= {INT32_MAX}")
        return default
    return value


def _get_progress_deadline(spec: Obj, min_ready: int) -> int:
    # Checked after defaulting, as by the API server: a minReadySeconds of
    # 600 or more needs a longer progressDeadlineSeconds written out.
    key = "progressDeadlineSeconds"
    value = _get_nonnegative(spec, key, _DEFAULT_PROGRESS_DEADLINE)
    if value <= min_ready:
        spec.fail(key, f"Invalid value: {value}: must be greater than minReadySeconds")
    return value


def _refuse_paused(spec: Obj) -> None:
    # A paused Deployment scales the ReplicaSets of older templates; minipod
    # keeps only the current template, so it cannot.
    if spec.get_bool("paused"):
        spec.fail("paused", f"Invalid value: true: {NOT_SUPPORTED}"
                  " (a changed template is rolled out at once)")


def _parse_selector(spec: Obj) -> LabelSelector | None:
    """spec.selector, or None when it is missing or invalid (nothing to match)."""
    obj = spec.get_mapping("selector", _SELECTOR_KEYS, required=True)
    if obj is None:
        return None
    errors_before = len(obj.errors)
    match_labels = parse_labels(obj, "matchLabels")
    requirements = [_parse_requirement(r)
                    for r in obj.get_mappings("matchExpressions", _REQUIREMENT_KEYS)]
    if not obj.data.get("matchLabels") and not obj.data.get("matchExpressions"):
        # The Go value printed as JSON, as API servers from v1.34 do.
        obj.fail_here("Invalid value: {}: empty selector is invalid for deployment")
    if len(obj.errors) > errors_before:
        return None
    expressions = tuple(r for r in requirements if r is not None)
    return LabelSelector(match_labels, expressions)


def _parse_requirement(obj: Obj) -> LabelSelectorRequirement | None:
    key = obj.get_str("key", required=True)
    if key is not None:
        check(obj, "key", key, qualified_name_errors(key))
    operator = obj.get_str("operator", required=True)
    values = obj.get_strings("values") or ()
    for index, value in enumerate(values):
        for message in label_value_errors(value):
            obj.errors.append(
                FieldError(f"{obj.at('values')}[{index}]", f'Invalid value: "{value}": {message}')
            )
    if operator in ("In", "NotIn"):
        if not values:
            obj.fail("values", f"{REQUIRED}: must be specified when `operator` is 'In' or 'NotIn'")
    elif operator in ("Exists", "DoesNotExist"):
        if values:
            obj.fail("values", "Forbidden: may not be specified when `operator` is"
                     " 'Exists' or 'DoesNotExist'")
    elif operator is not None:
        obj.fail("operator", f'Invalid value: "{operator}": not a valid selector operator'
                 f" (supported: {', '.join(_SELECTOR_OPERATORS)})")
        return None
    if key is None or operator is None:
        return None
    return LabelSelectorRequirement(key, cast(SelectorOperator, operator), values)


def _parse_template(spec: Obj, selector: LabelSelector | None) -> PodTemplate:
    """spec.template: a PodTemplateSpec, its spec checked as any Pod's spec is."""
    obj = spec.get_mapping("template", _TEMPLATE_KEYS, required=True)
    if obj is None:
        return PodTemplate(PodSpec(containers=()))
    meta = obj.get_mapping("metadata", _TEMPLATE_METADATA_KEYS)
    labels = parse_labels(meta) if meta is not None else {}
    annotations = parse_annotations(meta) if meta is not None else {}
    # ValidatePodTemplateSpecForReplicaSet
    if selector is not None and not selector.matches(labels):
        shown = json.dumps(labels, sort_keys=True, separators=(",", ":"))
        obj.errors.append(FieldError(
            obj.at("metadata.labels"),
            f"Invalid value: {shown}: `selector` does not match template `labels`",
        ))
    pod_spec_obj = obj.get_mapping("spec", POD_SPEC_KEYS, required=True)
    if pod_spec_obj is None:
        return PodTemplate(PodSpec(containers=()), labels, annotations, dict(obj.data))
    pod_spec = parse_pod_spec(pod_spec_obj)
    if pod_spec.restart_policy != "Always":  # a controller's pods never finish on purpose
        pod_spec_obj.fail("restartPolicy", unsupported_value(pod_spec.restart_policy, ("Always",)))
    return PodTemplate(pod_spec, labels, annotations, dict(obj.data))


def _parse_strategy(spec: Obj) -> tuple[StrategyType, RollingUpdate | None]:
    obj = spec.get_mapping("strategy", _STRATEGY_KEYS)
    if obj is None:
        return "RollingUpdate", RollingUpdate()
    if get_enum(obj, "type", _STRATEGY_TYPES, "RollingUpdate") == "Recreate":
        if obj.has("rollingUpdate"):
            obj.fail("rollingUpdate",
                     "Forbidden: may not be specified when strategy `type` is 'Recreate'")
        return "Recreate", None
    rolling = obj.get_mapping("rollingUpdate", _ROLLING_UPDATE_KEYS)
    if rolling is None:
        return "RollingUpdate", RollingUpdate()
    surge = _get_int_or_percent(rolling, "maxSurge")
    unavailable = _get_int_or_percent(rolling, "maxUnavailable")
    if surge is None or unavailable is None:
        return "RollingUpdate", RollingUpdate()
    if _int_or_percent_value(surge) == 0 and _int_or_percent_value(unavailable) == 0:
        rolling.fail("maxUnavailable",
                     f"Invalid value: {json.dumps(unavailable)}: may not be 0 when `maxSurge` is 0")
    elif isinstance(unavailable, str) and _int_or_percent_value(unavailable) > 100:
        rolling.fail("maxUnavailable",
                     f'Invalid value: "{unavailable}": must not be greater than 100%')
    return "RollingUpdate", RollingUpdate(surge, unavailable)


def _get_int_or_percent(obj: Obj, key: str) -> int | str | None:
    """An IntOrString of a rolling update: absent is "25%"; None when invalid."""
    value = obj.data.get(key)
    if value is None:
        return "25%"  # SetDefaults_Deployment
    if is_int(value):
        if value < 0:
            obj.fail(key, f"Invalid value: {value}: {_NONNEGATIVE}")
            return None
        return value
    if not isinstance(value, str):
        obj.fail(key, wrong_type("must be an integer or a percentage such as 25%", value))
        return None
    if not _PERCENT_RE.fullmatch(value):
        obj.fail(key, f'Invalid value: "{value}": {_PERCENT_MSG}')
        return None
    return value


def _int_or_percent_value(value: int | str) -> int:
    return int(value[:-1]) if isinstance(value, str) else value
