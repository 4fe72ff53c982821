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
            if close < 0:  # unterminated: kept as written
                out.append(text[i:])
                break
            name = text[i + 2 : close]
            out.append(env[name] if name in env else text[i : close + 1])
            i = close + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def build_env(image_env: tuple[tuple[str, str], ...], container_env: tuple[tuple[str, str], ...],
              defaults: Mapping[str, str]) -> dict[str, str]:
    """The process environment: defaults, then the image's, then the container's.

    Each container value may refer to variables defined before it (k8s
    expands env in order, against what is defined so far).
    """
    env = dict(defaults)
    env.update(image_env)
    for name, value in container_env:
        env[name] = expand(value, env)
    return env
