"""Pure domain rules: references, names, paging and the stage table."""

from __future__ import annotations

import pytest

from modelyard_common.errors import InvalidArgumentError
from modelyard_common.values import Consumption, ConsumptionKind
from modelyard_metadata.domain.consumers import check_consumption
from modelyard_metadata.domain.entities import Stage
from modelyard_metadata.domain.paging import decode_token, encode_token, page_size
from modelyard_metadata.domain.stages import ALLOWED_TRANSITIONS
from modelyard_metadata.domain.validation import VersionRef, check_tags, parse_model_name, parse_reference


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("fraud/scorer:12", VersionRef("fraud", "scorer", version=12)),
        ("fraud/scorer@champion", VersionRef("fraud", "scorer", alias="champion")),
        ("fraud/scorer", VersionRef("fraud", "scorer")),
        ("a.b/c_d-e:1", VersionRef("a.b", "c_d-e", version=1)),
    ],
)
def test_references_parse(text: str, expected: VersionRef) -> None:
    assert parse_reference(text) == expected
    assert str(parse_reference(text)) == text


FORMS = "use project/model:VERSION, project/model@ALIAS or project/model (its latest READY version)"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", f"reference: is required: {FORMS}"),
        ("/scorer:1", f"reference: '/scorer:1' has no project before '/': {FORMS}"),
        ("fraud/:1", f"reference: 'fraud/:1' has no model after '/': {FORMS}"),
        ("scorer:1", f"reference: 'scorer:1' has no project: {FORMS}"),
        (":1", f"reference: ':1' has no project/model before ':': {FORMS}"),
        ("@champion", f"reference: '@champion' has no project/model before '@': {FORMS}"),
        ("fraud/scorer/v2", f"reference: 'fraud/scorer/v2' has more than one '/': {FORMS}"),
        ("fraud/scorer:", f"reference: 'fraud/scorer:' has no version after ':': {FORMS}"),
        ("fraud/scorer@", f"reference: 'fraud/scorer@' has no alias after '@': {FORMS}"),
        ("fraud/scorer@a@b", f"reference: 'fraud/scorer@a@b' has more than one '@': {FORMS}"),
        (
            "fraud/scorer:1@prod",
            f"reference: 'fraud/scorer:1@prod' has both a version (':') and an alias ('@'): {FORMS}",
        ),
        ("fraud/scorer:one", "reference: version 'one' in 'fraud/scorer:one' is not a positive integer of at most"),
        ("Fraud/scorer:1", "reference: project 'Fraud' in 'Fraud/scorer:1' is not a valid name: use lowercase"),
        ("fraud/Scorer", "reference: model 'Scorer' in 'fraud/Scorer' is not a valid name: use lowercase"),
        ("fraud/scorer@1st", "reference: alias '1st' in 'fraud/scorer@1st' is not a valid alias: use lowercase"),
    ],
)
def test_a_malformed_reference_says_what_is_wrong_with_the_text_given(text: str, message: str) -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        parse_reference(text)
    assert str(caught.value).startswith(message), str(caught.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("scorer", "model: 'scorer' has no project: use project/model"),
        ("/scorer", "model: '/scorer' has no project before '/': use project/model"),
        ("fraud/", "model: 'fraud/' has no model after '/': use project/model"),
        ("", "model: is required: use project/model"),
    ],
)
def test_a_malformed_model_name_says_what_is_wrong_with_the_text_given(text: str, message: str) -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        parse_model_name("model", text)
    assert str(caught.value) == message


def test_an_overlong_model_name_says_which_part_is_too_long_quoting_a_bounded_text() -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        parse_model_name("model", "fraud/" + "m" * 1000)
    message = str(caught.value)
    assert message.startswith("model: the model in 'fraud/mmm")
    assert message.endswith("'... is 1000 characters long; at most 128 allowed")
    assert len(message) < 120


def test_overlong_name_is_rejected_with_its_length() -> None:
    with pytest.raises(InvalidArgumentError, match="reference: is 385 characters long; at most 384 allowed"):
        parse_reference("p/" + "m" * 383)
    with pytest.raises(
        InvalidArgumentError, match=r"reference: the model in 'p/m+'\.\.\. is 129 characters long; at most 128"
    ):
        parse_reference("p/" + "m" * 129)


def test_tags_are_bounded() -> None:
    with pytest.raises(InvalidArgumentError, match="tags: has 65 entries; at most 64 allowed"):
        check_tags("tags", {f"k{i}": "v" for i in range(65)})
    with pytest.raises(InvalidArgumentError, match=r"tags\['k'\]: is 513 characters long"):
        check_tags("tags", {"k": "v" * 513})


def test_page_size_defaults_and_bounds() -> None:
    assert (page_size(0), page_size(7), page_size(1000)) == (100, 7, 1000)
    for bad in (-1, 1001):
        with pytest.raises(InvalidArgumentError, match="page_size: must be between 0 and 1000"):
            page_size(bad)


def test_page_tokens_are_bound_to_their_listing() -> None:
    token = encode_token("models", "churn")
    assert decode_token("models", token, str) == "churn"
    assert decode_token("models", "", str) is None
    with pytest.raises(InvalidArgumentError, match="page_token: was not issued for this projects listing"):
        decode_token("projects", token, str)
    with pytest.raises(InvalidArgumentError, match="page_token: is not a token this service issued"):
        decode_token("models", "%%%", str)


@pytest.mark.parametrize(
    ("kind", "expected", "position"),
    [
        ("versions", int, "seven"),
        ("versions", int, 2**70),
        ("versions", int, 0),
        ("versions", int, True),
        ("audit", int, None),
        ("models", str, "a\x00b"),
        ("models", str, [1]),
    ],
)
def test_forged_page_tokens_with_positions_the_store_cannot_take_are_refused(
    kind: str, expected: type[str] | type[int], position: object
) -> None:
    with pytest.raises(InvalidArgumentError, match=f"page_token: was not issued for this {kind} listing"):
        decode_token(kind, encode_token(kind, position), expected)


def test_page_tokens_longer_than_any_issued_are_refused() -> None:
    with pytest.raises(InvalidArgumentError, match="page_token: is 1025 characters long; at most 1024 allowed"):
        decode_token("models", "a" * 1025, str)


def test_stage_table_reaches_every_stage_and_archive_is_reversible_only_to_development() -> None:
    reachable = {target for targets in ALLOWED_TRANSITIONS.values() for target in targets}
    assert reachable == set(Stage)
    assert ALLOWED_TRANSITIONS[Stage.ARCHIVED] == {Stage.DEVELOPMENT}
    assert Stage.PRODUCTION not in ALLOWED_TRANSITIONS[Stage.DEVELOPMENT]


@pytest.mark.parametrize(
    ("consumption", "message"),
    [
        (
            Consumption(ConsumptionKind.UNSPECIFIED, "fraud/scorer:1"),
            "consumption.kind: must be DOWNLOAD or DEPLOYMENT",
        ),
        (Consumption(ConsumptionKind.DOWNLOAD, "scorer:1"), "consumption.reference: 'scorer:1' has no project"),
        (
            Consumption(ConsumptionKind.DOWNLOAD, "risk/scorer:1"),
            "consumption.reference: 'risk/scorer:1' is not in project 'fraud'",
        ),
        (Consumption(ConsumptionKind.DEPLOYMENT, "fraud/scorer:1"), "consumption.deployment: is required"),
        (
            Consumption(ConsumptionKind.DOWNLOAD, "fraud/scorer:1", "scorer"),
            "consumption.deployment: is only for a DEPLOYMENT",
        ),
    ],
)
def test_a_consumption_names_a_version_of_the_authorized_project(consumption: Consumption, message: str) -> None:
    with pytest.raises(InvalidArgumentError) as refused:
        check_consumption(consumption, "fraud")
    assert str(refused.value).startswith(message)


def test_downloads_and_deployments_of_the_project_are_consumptions() -> None:
    check_consumption(Consumption(ConsumptionKind.DOWNLOAD, "fraud/scorer@champion"), "fraud")
    check_consumption(Consumption(ConsumptionKind.DEPLOYMENT, "fraud/scorer", "scorer-prod"), "fraud")
