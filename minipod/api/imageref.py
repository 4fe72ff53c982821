"""Image references as Docker and the kubelet read them (pure).

    nginx                        -> docker.io/library/nginx:latest
    user/app:1.2                 -> docker.io/user/app:1.2
    localhost:5000/app@sha256:.. -> localhost:5000/app@sha256:..
    registry.k8s.io/pause:3.9    -> registry.k8s.io/pause:3.9

The grammar is distribution/reference's (the one the kubelet, containerd and
podman share): the first path component is a registry host when it has a
'.' or a ':', or is 'localhost'; Docker Hub is docker.io, and a one-component
name there lives under library/. A name is lowercase, at most 255 characters;
a tag is [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}; a digest here is sha256 (the only
algorithm registries serve).
"""

from __future__ import annotations

import re

from minipod.api.frozen import frozen

DOCKER_HUB = "docker.io"
DOCKER_HUB_ALIASES = ("index.docker.io", "registry-1.docker.io")
DEFAULT_TAG = "latest"
PULL_POLICIES = ("Always", "IfNotPresent", "Never")

_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_DOMAIN = re.compile(
    r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*"
    r"|\[[0-9a-fA-F:.]+\])(?::[0-9]+)?")
_TAG = re.compile(r"[\w][\w.-]{0,127}")
_DIGEST = re.compile(r"sha256:[a-f0-9]{64}")
NAME_MAX = 255


class ReferenceError(ValueError):
    """A reference that is not an image name; the message says what is wrong."""


@frozen
class ImageRef:
    domain: str  # registry host[:port]
    path: str  # repository path on it, e.g. library/nginx
    tag: str | None = None
    digest: str | None = None  # sha256:..., when pinned

    @property
    def name(self) -> str:
        """The repository: docker.io/library/nginx."""
        return f"{self.domain}/{self.path}"

    @property
    def tagged(self) -> str:
        """name:tag, with Docker's default tag when none was given."""
        return f"{self.name}:{self.tag or DEFAULT_TAG}"

    def __str__(self) -> str:
        text = self.name
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text

    @property
    def key(self) -> str:
        """What the store files the reference under: name@digest when pinned
        (a tag beside a digest is ignored, as by containerd and Docker),
        else name:tag."""
        return f"{self.name}@{self.digest}" if self.digest else self.tagged

    def familiar(self) -> str:
        """The short form people write: nginx:1.27, user/app:1.0."""
        name = self.name
        if self.domain == DOCKER_HUB:
            name = self.path.removeprefix("library/") if self.path.count("/") == 1 \
                else self.path
        return name

    def with_tag(self, tag: str) -> ImageRef:
        return ImageRef(self.domain, self.path, tag, None)

    def with_digest(self, digest: str) -> ImageRef:
        return ImageRef(self.domain, self.path, None, digest)


def parse(text: str) -> ImageRef:
    """Parse and normalize ``text``; ReferenceError says what is wrong."""
    if not text:
        raise ReferenceError("empty image reference")
    if text != text.strip() or any(c.isspace() for c in text):
        raise ReferenceError(f"invalid reference format: {text!r} contains whitespace")
    remainder, digest = text, None
    if "@" in remainder:
        remainder, _, digest = remainder.partition("@")
        if not _DIGEST.fullmatch(digest):
            raise ReferenceError(f"invalid reference format: {text!r}: digest {digest!r} "
                                 "is not sha256: and 64 lowercase hex digits")
    tag = None
    slash, colon = remainder.rfind("/"), remainder.rfind(":")
    if colon > slash:
        remainder, tag = remainder[:colon], remainder[colon + 1:]
        if not _TAG.fullmatch(tag):
            raise ReferenceError(f"invalid reference format: {text!r}: tag {tag!r} is not "
                                 "[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
    domain, path = _split_domain(remainder, text)
    if len(f"{domain}/{path}") > NAME_MAX:
        raise ReferenceError(f"invalid reference format: {text!r}: repository name must "
                             f"not be more than {NAME_MAX} characters")
    return ImageRef(domain, path, tag, digest)


def _split_domain(name: str, text: str) -> tuple[str, str]:
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"
                or first.lower() != first):
        domain, path = first, rest
        if not _DOMAIN.fullmatch(domain):
            raise ReferenceError(f"invalid reference format: {text!r}: bad registry "
                                 f"host {domain!r}")
    else:
        domain, path = DOCKER_HUB, name
    if domain in DOCKER_HUB_ALIASES:
        domain = DOCKER_HUB
    if domain == DOCKER_HUB and "/" not in path:
        path = f"library/{path}"
    for component in path.split("/"):
        if component.lower() != component and _COMPONENT.fullmatch(component.lower()):
            raise ReferenceError(f"invalid reference format: {text!r}: repository name "
                                 "must be lowercase")
        if not _COMPONENT.fullmatch(component):
            raise ReferenceError(f"invalid reference format: {text!r}: bad repository "
                                 f"name component {component!r}")
    return domain, path


def default_pull_policy(text: str) -> str:
    """The API server's default: Always for :latest or no tag (and no
    digest), IfNotPresent otherwise (pkg/apis/core/v1/defaults.go)."""
    try:
        ref = parse(text)
    except ReferenceError:
        return "IfNotPresent"  # validation reports the reference itself
    if ref.digest is None and (ref.tag is None or ref.tag == DEFAULT_TAG):
        return "Always"
    return "IfNotPresent"
