"""The metadata api edge refuses what the wire may carry but the domain does not know: an enum
number of no member, a time no datetime holds; each error names the field."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from google.protobuf import timestamp_pb2

from modelyard import ConsumptionKind, VersionConsumer
from modelyard import _convert as sdk_convert
from modelyard._wire import time_to_pb
from modelyard.v1 import types_pb2
from modelyard_common.errors import InvalidArgumentError
from modelyard_metadata.api import convert
from modelyard_metadata.domain.entities import Consumer, DependencyScope, EnsembleMethod, ModelKind, Serving, Stage


def test_unset_enums_take_their_defaults_and_known_ones_round_trip() -> None:
    assert convert.kind_from_pb("model.kind", 0) is ModelKind.STANDARD
    assert convert.kind_from_pb("model.kind", types_pb2.MODEL_KIND_ENSEMBLE) is ModelKind.ENSEMBLE
    assert convert.stage_from_pb("stage", 0, default=Stage.DEVELOPMENT) is Stage.DEVELOPMENT
    assert convert.stage_from_pb("stage", types_pb2.STAGE_PRODUCTION) is Stage.PRODUCTION
    (dependency,) = convert.dependencies_from_pb([types_pb2.Dependency(library="numpy")])
    assert dependency.scope is DependencyScope.RUN
    serving = Serving(ensemble_method=EnsembleMethod.CHAIN, members=("p/m:1",))
    assert convert.serving_from_pb(convert.serving_to_pb(serving)) == serving
    assert convert.serving_from_pb(types_pb2.Serving()) == Serving()


@pytest.mark.parametrize(
    ("convert_it", "message"),
    [
        (lambda: convert.kind_from_pb("model.kind", 99), "model.kind: unknown model kind 99"),
        (
            lambda: convert.stage_from_pb("stage", 0),
            "stage: must be one of DEVELOPMENT, VALIDATION, PRODUCTION, ARCHIVED (got 0)",
        ),
        (
            lambda: convert.dependencies_from_pb([types_pb2.Dependency(library="x", scope=7)]),
            "dependencies[0].scope: must be BUILD or RUN (got 7)",
        ),
        (
            lambda: convert.serving_from_pb(types_pb2.Serving(ensemble_method=9)),
            "serving.ensemble_method: 9 is not a known method",
        ),
        (
            lambda: convert.time_from_pb("metrics[0].time", timestamp_pb2.Timestamp(seconds=-(10**12))),
            "metrics[0].time: -1000000000000 s 0 ns is not a time between years 1 and 9999",
        ),
    ],
)
def test_unknown_numbers_and_impossible_times_are_refused_naming_the_field(
    convert_it: Callable[[], object], message: str
) -> None:
    with pytest.raises(InvalidArgumentError) as raised:
        convert_it()
    assert str(raised.value) == message


def test_times_round_trip_to_the_microsecond() -> None:
    moment = datetime(2026, 1, 31, 12, 0, 0, 123456, tzinfo=UTC)
    assert convert.time_from_pb("time", time_to_pb(moment)) == moment


def test_consumers_reach_the_sdk_as_recorded() -> None:
    first, last = datetime(2026, 1, 2, 3, 4, tzinfo=UTC), datetime(2026, 1, 3, tzinfo=UTC)
    consumer = Consumer("ana", ConsumptionKind.DEPLOYMENT, "scorer-prod", ("risk", "core"), first, last)
    read = sdk_convert.consumers_from_pb(convert.consumers_to_pb("fraud/scorer:3", [consumer], 2))
    assert read.reference == "fraud/scorer:3" and read.team_count == 2
    assert read.consumers == (
        VersionConsumer("ana", ConsumptionKind.DEPLOYMENT, "scorer-prod", ("risk", "core"), first, last),
    )
