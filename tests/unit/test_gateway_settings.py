"""The gateway's typed settings (gateway.settings): pydantic's checks, without pydantic."""

from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path
from typing import Annotated, Literal

import pytest

from gateway.settings import ConfigError, MinLength, Pattern, Range, Section, with_environment


class Inner(Section, frozen=True):
    name: Annotated[str, Pattern(r"^[a-z]+$")]
    weight: Annotated[float, Range(gt=0)] = 1.0


class Outer(Section):
    port: Annotated[int, Range(ge=1, le=65535)] = 1883
    mode: Literal["a", "b", "c"] = "a"
    enabled: bool = False
    path: Path | None = None
    since: date = date(2026, 1, 1)
    inner: Inner | None = None
    items: Annotated[list[Inner], MinLength(1)] = dataclasses.field(
        default_factory=lambda: [Inner(name="x")]
    )
    required: str

    def _check(self) -> None:
        if self.mode == "c" and not self.enabled:
            raise ValueError("mode c needs enabled")


def test_values_are_converted_as_their_annotation_says() -> None:
    outer = Outer(
        required="r",
        port="8883",
        enabled="yes",
        path="/etc/x",
        since="2026-11-01",
        inner={"name": "abc", "weight": 2},
        items=[{"name": "q"}, Inner(name="z")],
    )
    assert outer.port == 8883
    assert outer.enabled is True
    assert outer.path == Path("/etc/x")
    assert outer.since == date(2026, 11, 1)
    assert outer.inner == Inner(name="abc", weight=2.0)
    assert isinstance(outer.inner.weight, float)
    assert [i.name for i in outer.items] == ["q", "z"]
    assert outer.fields_set == {"required", "port", "enabled", "path", "since", "inner", "items"}


def test_defaults_and_factories_apply_and_are_not_shared() -> None:
    first, second = Outer(required="r"), Outer(required="r")
    assert first.port == 1883 and first.inner is None and first.fields_set == {"required"}
    assert first.items == second.items and first.items is not second.items


def test_every_problem_is_reported_at_once_with_its_key() -> None:
    with pytest.raises(ConfigError) as caught:
        Outer(port=0, mode="d", enabled="maybe", inner={"name": "A1", "weight": 0}, typo=1)
    assert caught.value.problems == [
        ("typo", "Extra inputs are not permitted"),
        ("port", "Input should be greater than or equal to 1"),
        ("mode", "Input should be 'a', 'b' or 'c'"),
        ("enabled", "Input should be a valid boolean"),
        ("inner.name", "String should match pattern '^[a-z]+$'"),
        ("inner.weight", "Input should be greater than 0"),
        ("required", "Field required"),
    ]


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        ({"port": 2.5}, ("port", "Input should be a valid integer")),
        ({"port": True}, ("port", "Input should be a valid integer")),
        ({"port": 70000}, ("port", "Input should be less than or equal to 65535")),
        ({"required": 5}, ("required", "Input should be a valid string")),
        ({"items": []}, ("items", "List should have at least 1 item, not 0")),
        (
            {"items": [{"name": "a"}, {"nome": "b"}]},
            ("items.1.nome", "Extra inputs are not permitted"),
        ),
        ({"items": "[1"}, ("items", "Input should be valid JSON")),
        ({"inner": 3}, ("inner", "Input should be a table of Inner keys")),
        ({"since": "yesterday"}, ("since", "Input should be a valid date (YYYY-MM-DD)")),
    ],
)
def test_a_bad_value_is_refused_naming_its_key(values: dict, problem: tuple[str, str]) -> None:
    with pytest.raises(ConfigError) as caught:
        Outer(**{"required": "r", **values})
    assert problem in caught.value.problems


def test_a_rule_across_keys_is_refused_as_a_problem_of_its_section() -> None:
    with pytest.raises(ConfigError, match="mode c needs enabled"):
        Outer(required="r", mode="c")
    assert Outer(required="r", mode="c", enabled=True).mode == "c"


def test_frozen_sections_stay_frozen_and_replace_checks_again() -> None:
    inner = Inner(name="abc")
    with pytest.raises(dataclasses.FrozenInstanceError):
        inner.name = "def"  # type: ignore[misc]
    assert dataclasses.replace(inner, weight=3).weight == 3.0
    with pytest.raises(ConfigError):
        dataclasses.replace(inner, weight=-1)


def test_the_environment_lies_over_the_file_case_insensitively() -> None:
    data = {"a": 1, "mqtt": {"host": "h", "password": "file"}}
    merged = with_environment(
        data,
        "TANI_X_",
        {
            "TANI_X_MQTT__PASSWORD": "env",
            "tani_x_publish__interval_s": "30",
            "TANI_Y_MQTT__HOST": "other prefix",
            "PATH": "/bin",
        },
    )
    assert merged == {
        "a": 1,
        "mqtt": {"host": "h", "password": "env"},
        "publish": {"interval_s": "30"},
    }
    assert data["mqtt"]["password"] == "file"  # the file's data is left alone


def test_a_section_given_as_json_text_is_read_as_its_keys() -> None:
    outer = Outer(required="r", inner='{"name": "json"}', items='[{"name": "a"}]')
    assert outer.inner == Inner(name="json")
    assert outer.items == [Inner(name="a")]
