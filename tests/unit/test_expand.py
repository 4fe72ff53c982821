"""minipod.api.expand: Kubernetes' $(VAR) expansion and the container environment.

The reference is k8s third_party/forked/golang/expansion (expand.go); the
cases marked "k8s" below are the ones of its expand_test.go.
"""

from __future__ import annotations

import pytest

from minipod.api.expand import build_env, container_env, expand

ENV = {
    "VAR_A": "A",
    "VAR_B": "B",
    "VAR_C": "C",
    "VAR_REF": "$(VAR_A)",
    "VAR_EMPTY": "",
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # k8s expand_test.go
        ("$(VAR_A)", "A"),
        ("$(VAR_A)-$(VAR_A)", "A-A"),
        ("$(VAR_A)-1", "A-1"),
        ("___$(VAR_B)___", "___B___"),
        ("___$(VAR_C)", "___C"),
        ("$(VAR_A)_$(VAR_B)_$(VAR_C)", "A_B_C"),
        ("$$(VAR_B)_$(VAR_A)", "$(VAR_B)_A"),
        ("$$(VAR_A)_$$(VAR_B)", "$(VAR_A)_$(VAR_B)"),
        ("f000-$$VAR_A", "f000-$VAR_A"),
        ("foo\\$(VAR_C)bar", "foo\\Cbar"),
        ("foo\\\\$(VAR_C)bar", "foo\\\\Cbar"),
        ("$(VAR_A$(VAR_B))", "$(VAR_A$(VAR_B))"),
        ("$(VAR_A$(VAR_B)", "$(VAR_A$(VAR_B)"),
        ("$(VAR_REF)", "$(VAR_A)"),  # a value is not expanded again
        ("%%$(VAR_REF)--$(VAR_REF)%%", "%%$(VAR_A)--$(VAR_A)%%"),
        ("foo$(VAR_EMPTY)bar", "foobar"),
        ("foo$(VAR_Awhoops!", "foo$(VAR_Awhoops!"),
        ("f00__(VAR_A)__", "f00__(VAR_A)__"),
        ("$?_boo_$!", "$?_boo_$!"),
        ("$VAR_A", "$VAR_A"),
        ("$(VAR_DNE)", "$(VAR_DNE)"),
        ("$$$$$$(BIG_MONEY)", "$$$(BIG_MONEY)"),
        ("$$$$$$(VAR_A)", "$$$(VAR_A)"),
        ("$$$$$$$(GOOD_ODDS)", "$$$$(GOOD_ODDS)"),
        ("$$$$$$$(VAR_A)", "$$$A"),
        ("$VAR_A)", "$VAR_A)"),
        ("${VAR_A}", "${VAR_A}"),
        ("$(VAR_B)_______$(A", "B_______$(A"),
        ("$(VAR_C)_______$(", "C_______$("),
        ("$(VAR_A)foobarzab$", "Afoobarzab$"),
        ("foo-\\$(VAR_A", "foo-\\$(VAR_A"),
        ("--$($($($($--", "--$($($($($--"),
        ("$($($($($--foo$(", "$($($($($--foo$("),
        ("foo0--$($($($(", "foo0--$($($($("),
        ("$(foo$$var)", "$(foo$$var)"),
        ("\n", "\n"),
        # more
        ("", ""),
        ("$", "$"),
        ("$$", "$"),
        ("a$", "a$"),
        ("$()", "$()"),  # empty name: undefined, kept
        ("$(VAR_A)$(VAR_B)", "AB"),  # adjacent
        ("$$$(VAR_A)", "$A"),  # escape, then a reference
        ("($(VAR_A))", "(A)"),
        ("$(VAR_A))", "A)"),
        ("$(X", "$(X"),
        ("$(VAR_A", "$(VAR_A"),
        ("héllo $(VAR_A) wörld", "héllo A wörld"),
        ("$é", "$é"),
    ],
)
def test_expand_matches_kubernetes(text: str, expected: str) -> None:
    assert expand(text, ENV) == expected


def test_empty_name_expands_when_defined() -> None:
    # k8s looks the empty name up like any other (MappingFuncFor)
    assert expand("<$()>", {"": "E"}) == "<E>"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # After an unterminated "$(", expand.go writes "$(" and scans on, so a
        # later "$$" is still an escape. minipod keeps the rest verbatim.
        ("$(A $$ B", "$(A $ B"),
        ("echo $(date; kill $$", "echo $(date; kill $"),
    ],
)
def test_escape_after_unterminated_reference_is_still_an_escape(text: str, expected: str) -> None:
    assert expand(text, ENV) == expected


# ---------------------------------------------------------------------------
# build_env
# ---------------------------------------------------------------------------


def env_of(image: tuple[tuple[str, str], ...], entries: tuple[tuple[str, str], ...],
           defaults: dict[str, str]) -> dict[str, str]:
    return build_env(image, container_env(entries), defaults)


def test_only_earlier_container_entries_are_visible_to_expansion() -> None:
    # the kubelet expands against the container's own env, not the image's
    # env nor the runtime's PATH/HOSTNAME
    env = env_of((("IMG", "i"),), (("A", "$(IMG)"), ("B", "$(PATH)"), ("C", "$(HOSTNAME)")),
                 {"PATH": "/bin", "HOSTNAME": "web"})
    assert (env["A"], env["B"], env["C"]) == ("$(IMG)", "$(PATH)", "$(HOSTNAME)")


def test_build_env_precedence_defaults_image_container() -> None:
    env = env_of(
        (("PATH", "/image/bin"), ("IMG", "i")),
        (("IMG", "c"), ("OWN", "o")),
        {"PATH": "/default/bin", "HOSTNAME": "web"},
    )
    assert env == {"PATH": "/image/bin", "HOSTNAME": "web", "IMG": "c", "OWN": "o"}


def test_build_env_keeps_declaration_order() -> None:
    env = env_of((("I", "1"),), (("Z", "z"), ("A", "a")), {"D": "d"})
    assert list(env) == ["D", "I", "Z", "A"]


def test_container_env_refers_to_earlier_container_env() -> None:
    env = env_of(
        (),
        (("FOO", "bar"), ("ZOO", "$(FOO)-1"), ("BLU", "$(ZOO)-2")),
        {},
    )
    assert env["ZOO"] == "bar-1"
    assert env["BLU"] == "bar-1-2"


def test_reference_to_a_later_container_env_stays_literal() -> None:
    env = env_of((), (("FIRST", "$(SECOND)/x"), ("SECOND", "two")), {})
    assert env["FIRST"] == "$(SECOND)/x"
    assert env["SECOND"] == "two"


def test_container_env_self_reference_sees_the_previous_value() -> None:
    env = env_of((), (("X", "one"), ("X", "$(X)-two")), {})
    assert env["X"] == "one-two"


def test_container_env_escape_is_unescaped_once() -> None:
    env = env_of((), (("A", "a"), ("LIT", "$$(A)")), {})
    assert env["LIT"] == "$(A)"


def test_image_env_is_not_expanded() -> None:
    # only values from the manifest go through $(VAR) expansion
    env = env_of((("IMG", "$$(x)"),), (), {})
    assert env["IMG"] == "$$(x)"
