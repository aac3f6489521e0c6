"""Dataset names and references: their own namespace, without aliases."""

from __future__ import annotations

import pytest

from modelyard_common.errors import InvalidArgumentError
from modelyard_metadata.domain.validation import VersionRef, parse_dataset_name, parse_dataset_reference


@pytest.mark.parametrize(
    ("text", "expected"),
    [("retail/customers:3", VersionRef("retail", "customers", version=3)), ("a/b", VersionRef("a", "b"))],
)
def test_dataset_references_name_a_version_or_the_latest_ready_one(text: str, expected: VersionRef) -> None:
    assert parse_dataset_reference(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a/b@champion", "reference: 'a/b@champion' names an alias; use project/dataset:VERSION or project/dataset"),
        ("a/", "reference: 'a/' has no dataset after '/'"),
        ("a/b:0", "reference: version '0' in 'a/b:0' is not a positive integer"),
        ("A/b", "reference: project 'A' in 'A/b' is not a valid name"),
    ],
)
def test_malformed_dataset_references_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(InvalidArgumentError) as refused:
        parse_dataset_reference(text)
    assert refused.value.message.startswith(message)


def test_a_dataset_name_has_a_project_and_a_dataset() -> None:
    assert parse_dataset_name("name", "retail/customers") == ("retail", "customers")
    with pytest.raises(InvalidArgumentError, match="name: 'retail' has no project: use project/dataset"):
        parse_dataset_name("name", "retail")
