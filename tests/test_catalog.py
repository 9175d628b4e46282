"""catalog.Registry: one registry type for tasks, metrics, backbones and pretraining objectives."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from catalog import Registry, did_you_mean


@dataclass(frozen=True)
class Thing:
    name: str


class ThingError(Exception):
    pass


def test_register_by_item_name_and_read_as_a_mapping() -> None:
    things: Registry[Thing] = Registry("thing", error=ThingError, item_type=Thing)
    a, b = things.register(Thing("alpha")), things.register(Thing("beta"))
    assert things.lookup("alpha") is a and things["beta"] is b
    assert list(things) == ["alpha", "beta"] and len(things) == 2 and "alpha" in things
    assert dict(things.items()) == {"alpha": a, "beta": b}


def test_duplicates_and_wrong_types_are_rejected_and_the_same_item_is_a_no_op() -> None:
    things: Registry[Thing] = Registry("thing", error=ThingError, item_type=Thing)
    first = things.register(Thing("alpha"))
    assert things.register(first) is first
    with pytest.raises(ThingError, match="thing 'alpha' is already registered; pick another name"):
        things.register(Thing("alpha"))
    with pytest.raises(TypeError, match="a thing must be a Thing, not str"):
        things.register("alpha", name="alpha")  # type: ignore[arg-type]
    things.unregister("alpha")
    assert "alpha" not in things


@pytest.mark.parametrize(
    ("options", "name", "message"),
    [
        ({}, "alpah", "unknown thing 'alpah'; did you mean 'alpha'?"),
        ({}, "zzz", "unknown thing 'zzz'; known: alpha, beta"),
        ({"list_known": True}, "alpah", "unknown thing 'alpah'; did you mean 'alpha'? known: alpha, beta"),
        ({"unmatched_hint": "see the list"}, "zzz", "unknown thing 'zzz'; see the list"),
    ],
)
def test_unknown_names_raise_one_line_with_a_suggestion(options: dict, name: str, message: str) -> None:
    class UnknownThing(ThingError, KeyError):
        def __str__(self) -> str:
            return str(self.args[0])

    things: Registry[Thing] = Registry("thing", error=ThingError, unknown_error=UnknownThing, **options)
    things.register(Thing("alpha"))
    things.register(Thing("beta"))
    with pytest.raises(UnknownThing) as caught:
        things.lookup(name)
    assert str(caught.value) == message


def test_did_you_mean_names_the_closest_candidate_or_nothing() -> None:
    assert did_you_mean("decascore", ["decaScore", "model"], cutoff=0.5) == "did you mean 'decaScore'?"
    assert did_you_mean("sst", ["sst2", "squad"]) == "did you mean 'sst2'?"
    assert did_you_mean("xyz", ["sst2", "squad"]) == ""
