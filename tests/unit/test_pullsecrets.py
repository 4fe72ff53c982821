"""imagePullSecrets: the kubelet's keyring of a pod's docker-config Secrets
(api/pullsecrets.py, with keyring_test.go's cases), the field in the pod
spec, the API server's check of a docker config Secret, and what a pod's
pull is given (PodRunner on fakes: the credentials, the
FailedToRetrieveImagePullSecret warning, a Secret that cannot be read)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fakes import FakeEffects, FakeHost

from minipod.api import imageref
from minipod.api.errors import SpecError
from minipod.api.manifest import parse_objects
from minipod.api.model import ConfigData, Container, Pod, PodSpec
from minipod.api.pullsecrets import (
    Credential,
    PullSecretError,
    auth_config,
    keyring,
    lookup,
    urls_match,
)
from minipod.runtime.images import pull_auth
from minipod.runtime.pod import PodRunner


def docker_secret(name: str, auths: dict[str, object],
                  kind: str = "kubernetes.io/dockerconfigjson") -> ConfigData:
    if kind == "kubernetes.io/dockercfg":
        return ConfigData("Secret", name, {".dockercfg": json.dumps(auths).encode()},
                          type=kind)
    return ConfigData("Secret", name, {".dockerconfigjson": json.dumps({"auths": auths})
                                       .encode()}, type=kind)


def basic(user: str, password: str) -> dict[str, str]:
    return {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}


def users(ring: list[tuple[str, Credential]], image: str) -> list[str]:
    return [c.username for c in lookup(ring, imageref.parse(image))]


# -- the keyring ---------------------------------------------------------------------------

def test_keys_drop_the_scheme_and_v1_v2_and_the_most_specific_comes_first() -> None:
    ring = keyring([docker_secret("a", {
        "https://index.docker.io/v1/": basic("hub", "p"),
        "http://reg.example.com/v2/": basic("host", "p"),
        "reg.example.com/team": basic("team", "p"),
        "reg.example.com:5000": basic("port", "p"),
    })])
    assert [key for key, _ in ring] == ["reg.example.com:5000", "reg.example.com/team",
                                        "reg.example.com", "index.docker.io"]
    assert users(ring, "reg.example.com/team/app:1") == ["team", "host"]
    assert users(ring, "reg.example.com/other/app") == ["host"]
    assert users(ring, "reg.example.com:5000/app") == ["port"]  # the port must match
    assert users(ring, "other.example.com/app") == []


def test_docker_hub_images_use_the_index_docker_io_key() -> None:
    """`docker login` writes https://index.docker.io/v1/; the kubelet gives it
    to any Docker Hub image (nginx is docker.io/library/nginx)."""
    ring = keyring([docker_secret("hub", {"https://index.docker.io/v1/": basic("me", "pw")})])
    assert users(ring, "nginx") == ["me"]
    assert users(ring, "docker.io/someone/app:2") == ["me"]
    assert users(ring, "quay.io/someone/app") == []
    # a key for docker.io itself matches by host, before the fallback
    ring = keyring([docker_secret("hub", {"docker.io": basic("direct", "pw")})])
    assert users(ring, "nginx:1.25") == ["direct"]


def test_hosts_may_be_globs_part_by_part() -> None:
    assert urls_match("*.example.com", "reg.example.com/app")
    assert not urls_match("*.example.com", "a.reg.example.com/app")  # as many parts
    assert not urls_match("*.example.com", "example.org/app")
    assert urls_match("reg.example.com/team", "reg.example.com/teamwork/app")  # a prefix
    assert not urls_match("reg.example.com:443", "reg.example.com/app")


def test_secrets_keep_their_order_within_a_key_and_other_types_are_passed_over() -> None:
    ring = keyring([
        docker_secret("first", {"reg.example.com": basic("one", "p")}),
        ConfigData("Secret", "opaque", {".dockerconfigjson": b"{}"}, type="Opaque"),
        docker_secret("second", {"reg.example.com": basic("two", "p")},
                      kind="kubernetes.io/dockercfg"),
    ])
    assert [(c.secret, c.username) for _, c in ring] == [("first", "one"), ("second", "two")]


def test_auth_wins_over_username_and_password_and_may_be_unpadded() -> None:
    unpadded = base64.b64encode(b"u:pw1").decode().rstrip("=")
    ring = keyring([docker_secret("s", {
        "a.example.com": {"username": "x", "password": "y", "auth": unpadded},
        "b.example.com": {"username": "plain", "password": "pw:with:colons"},
    })])
    creds = {c.key: (c.username, c.password) for _, c in ring}
    assert creds == {"a.example.com": ("u", "pw1"), "b.example.com": ("plain", "pw:with:colons")}


@pytest.mark.parametrize(("data", "message"), [
    (b"{not json", '.dockerconfigjson: Expecting property name'),
    (b'{"auths": []}', '.dockerconfigjson: "auths" is not an object'),
    (b'{"auths": {"r.io": "x"}}', 'auths["r.io"]: not an object'),
    (b'{"auths": {"r.io": {"auth": "!!"}}}', 'auths["r.io"]: auth is not base64'),
    (b'{"auths": {"r.io": {"auth": "bm9jb2xvbg=="}}}', 'auths["r.io"]: unable to parse auth '
     "field, must be formatted as base64(username:password)"),
])
def test_a_secret_the_kubelet_cannot_read_is_an_error(data: bytes, message: str) -> None:
    secret = ConfigData("Secret", "s", {".dockerconfigjson": data},
                        type="kubernetes.io/dockerconfigjson")
    with pytest.raises(PullSecretError) as e:
        keyring([secret])
    assert str(e.value).startswith(f'secret "s": {message}'), str(e.value)


def test_the_config_skopeo_reads() -> None:
    config = json.loads(auth_config(Credential("me", "pw", "r.io/team", "s"), "r.io:5000"))
    assert config == {"auths": {"r.io:5000": {"auth": base64.b64encode(b"me:pw").decode()}}}


# -- the manifest ----------------------------------------------------------------------------

POD = """\
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  imagePullSecrets: [{name: regcred}, {name: ""}, {name: other}]
  containers: [{name: app, image: reg.example.com/app:1}]
"""


def test_image_pull_secrets_are_names_and_an_empty_one_is_passed_over() -> None:
    [pod] = parse_objects(POD).pods
    assert pod.spec.image_pull_secrets == ("regcred", "other")
    assert ("Secret", "regcred") not in pod.spec.refs  # read at each pull, not watched


def test_only_name_may_be_set() -> None:
    with pytest.raises(SpecError) as e:
        parse_objects(POD.replace("{name: other}", "{name: other, key: x}"))
    assert "spec.imagePullSecrets[2].key" in str(e.value)


def test_a_docker_config_secret_must_hold_a_json_object() -> None:
    text = ("apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n"
            "type: kubernetes.io/dockerconfigjson\n"
            "stringData: {.dockerconfigjson: '{\"auths\": '}\n")
    with pytest.raises(SpecError) as e:
        parse_objects(text)
    assert 'data[.dockerconfigjson]: Invalid value: "<secret contents redacted>"' in str(e.value)
    good = text.replace("'{\"auths\": '", "'{\"auths\": {}}'")
    assert parse_objects(good).configs[0].type == "kubernetes.io/dockerconfigjson"


# -- a pod's pulls ---------------------------------------------------------------------------

MADE: list[FakeEffects] = []


@pytest.fixture(autouse=True)
def _close_fakes() -> Iterator[None]:
    yield
    for fx in MADE:
        fx.close()
    MADE.clear()


def make(tmp_path: Path, secrets: tuple[str, ...]) -> tuple[PodRunner, FakeHost, FakeEffects]:
    spec = PodSpec(containers=(Container("app", "reg.example.com:5000/team/app:1",
                                         image_pull_policy="IfNotPresent"),),
                   image_pull_secrets=secrets)
    sup = FakeHost(tmp_path)
    fx = FakeEffects(tmp_path)
    MADE.append(fx)
    pod = Pod(name="p", spec=spec, namespace="shop")
    return PodRunner(sup, pod, {"app": None}, effects=fx), sup, fx


def store(fx: FakeEffects, secret: ConfigData, namespace: str = "shop") -> None:
    fx.configs[("Secret", namespace, secret.name)] = secret


def test_the_pull_gets_the_matching_credentials_of_the_pods_secrets(tmp_path: Path) -> None:
    runner, sup, fx = make(tmp_path, ("other", "regcred"))
    store(fx, docker_secret("other", {"quay.io": basic("q", "p")}))
    store(fx, docker_secret("regcred", {"reg.example.com:5000": basic("me", "pw")}))
    store(fx, docker_secret("elsewhere", {"reg.example.com:5000": basic("no", "no")}), "prod")
    runner.start()
    assert [ref for ref, _ in sup.pulls] == ["reg.example.com:5000/team/app:1"]
    config = sup.pull_auths[0]
    assert config is not None
    token = base64.b64encode(b"me:pw").decode()
    assert json.loads(config) == {"auths": {"reg.example.com:5000": {"auth": token}}}
    assert "FailedToRetrieveImagePullSecret" not in [e.reason for e in sup.events]


def test_a_missing_secret_is_a_warning_and_the_pull_uses_the_hosts(tmp_path: Path) -> None:
    runner, sup, _fx = make(tmp_path, ("regcred", "gone"))
    runner.start()
    assert sup.pull_auths == [None]  # skopeo's own search of the host's files
    warning = next(e for e in sup.events if e.reason == "FailedToRetrieveImagePullSecret")
    assert (warning.type, warning.message) == (
        "Warning", "Unable to retrieve some image pull secrets (regcred, gone); attempting "
        "to pull the image may not succeed.")
    reasons = [e.reason for e in sup.events]
    assert reasons.index("FailedToRetrieveImagePullSecret") < reasons.index("Pulling")


def test_a_secret_that_cannot_be_read_fails_the_pull(tmp_path: Path) -> None:
    runner, sup, fx = make(tmp_path, ("regcred",))
    store(fx, ConfigData("Secret", "regcred", {".dockerconfigjson": b'{"auths": 1}'},
                         type="kubernetes.io/dockerconfigjson"))
    runner.start()
    sup.loop.run_once(0)
    app = runner.apps[0]
    assert sup.pulls == []
    assert (app.state.reason, app.state.message) == (
        "ErrImagePull", 'secret "regcred": .dockerconfigjson: "auths" is not an object')
    assert [(e.reason, e.message) for e in sup.events][-3:] == [
        ("Pulling", 'Pulling image "reg.example.com:5000/team/app:1"'),
        ("Failed", 'Failed to pull image "reg.example.com:5000/team/app:1": secret "regcred": '
                   '.dockerconfigjson: "auths" is not an object'),
        ("Failed", "Error: ErrImagePull")]


def test_pull_auth_is_none_without_secrets_or_a_match() -> None:
    pod = Pod(name="p", spec=PodSpec(containers=(), image_pull_secrets=("s",)))
    secret = docker_secret("s", {"quay.io": basic("q", "p")})
    found = pull_auth(pod, "nginx", lambda kind, ns, name: secret if name == "s" else None)
    assert (found.config, found.missing, found.error) == (None, (), "")
    assert pull_auth(Pod(name="p", spec=PodSpec(containers=())), "nginx",
                     lambda *_: None).config is None
