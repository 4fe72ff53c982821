"""Kubernetes' $(VAR) expansion for command, args and env values.

Same rules as k8s third_party/forked/golang/expansion: $(NAME) becomes the
value when NAME is defined and stays as written when it is not; $$ becomes a
single $, so $$(NAME) escapes to a literal $(NAME); a $ before anything else
is kept.
"""

from __future__ import annotations

from collections.abc import Mapping


def expand(text: str, env: Mapping[str, str]) -> str:
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c != "$" or i + 1 >= n:
            out.append(c)
            i += 1
            continue
        nxt = text[i + 1]
        if nxt == "$":
            out.append("$")
            i += 2
        elif nxt == "(":
            close = text.find(")", i + 2)
            if close < 0:
                # Unterminated: k8s emits "$(" and goes on scanning after it,
                # so a later "$$" is still an escape.
                out.append("$(")
                i += 2
                continue
            name = text[i + 2 : close]
            out.append(env[name] if name in env else text[i : close + 1])
            i = close + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def container_env(entries: tuple[tuple[str, str], ...]) -> dict[str, str]:
    """The manifest's env, each value expanded against the entries before it.

    Only the container's own earlier entries count, as in the kubelet: the
    image's env and the runtime's PATH/HOSTNAME are not visible to $(VAR).
    """
    env: dict[str, str] = {}
    for name, value in entries:
        env[name] = expand(value, env)
    return env


def build_env(image_env: tuple[tuple[str, str], ...], container: Mapping[str, str],
              defaults: Mapping[str, str]) -> dict[str, str]:
    """The process environment: defaults, then the image's, then the container's."""
    env = dict(defaults)
    env.update(image_env)
    env.update(container)
    return env

