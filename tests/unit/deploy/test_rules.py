"""Deployment names (the rule shared with the metadata service), replica counts and trusted
types: what is accepted, and what the errors say."""

from __future__ import annotations

import pytest

from modelyard_common.errors import InvalidArgumentError
from modelyard_common.names import check_deployment_name as check_name
from modelyard_deploy.domain.validation import check_replicas, check_trusted_types


@pytest.mark.parametrize("name", ["a", "scorer", "scorer-prod-2", "a" * 40, "x1-"])
def test_valid_names_are_accepted(name: str) -> None:
    assert check_name(name) == name


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("", "name: is required"),
        ("a" * 41, "is longer than 40 characters"),
        ("Scorer", "must be lowercase letters, digits and '-', starting with a letter"),
        ("1scorer", "starting with a letter"),
        ("-scorer", "starting with a letter"),
        ("scorer_prod", "must be lowercase letters"),
        ("scorer.prod", "must be lowercase letters"),
    ],
)
def test_bad_names_are_rejected_naming_the_field(name: str, problem: str) -> None:
    with pytest.raises(InvalidArgumentError, match=problem) as caught:
        check_name(name)
    assert caught.value.field == "name"


@pytest.mark.parametrize("replicas", [0, 1, 16])
def test_replicas_from_0_to_16_are_accepted(replicas: int) -> None:
    assert check_replicas(replicas) == replicas


@pytest.mark.parametrize("replicas", [-1, 17, 100])
def test_replicas_outside_0_to_16_are_rejected(replicas: int) -> None:
    with pytest.raises(InvalidArgumentError, match=rf"replicas: {replicas} is not between 0 and 16"):
        check_replicas(replicas)


def test_trusted_types_are_sorted_once_each() -> None:
    given = ["sklearn.tree._tree.Tree", "numpy.dtype", "sklearn.tree._tree.Tree"]
    assert check_trusted_types(given) == ("numpy.dtype", "sklearn.tree._tree.Tree")
    assert check_trusted_types([]) == ()


@pytest.mark.parametrize(
    ("types", "field", "problem"),
    [
        (["not a type"], "trusted_types[0]", "is not a dotted type name"),
        (["a.B", "os.system()"], "trusted_types[1]", "is not a dotted type name"),
        (["a." * 300 + "b"], "trusted_types[0]", "is not a dotted type name"),
        ([f"m.T{i}" for i in range(65)], "trusted_types", "has 65 types; at most 64 allowed"),
    ],
)
def test_bad_trusted_types_are_rejected_naming_the_field(types: list[str], field: str, problem: str) -> None:
    with pytest.raises(InvalidArgumentError, match=problem) as caught:
        check_trusted_types(types)
    assert caught.value.field == field
