"""The one mapping of enums and times to the wire that the SDK and the services' api edges share."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from google.protobuf import timestamp_pb2

from modelyard import ModelKind, Stage
from modelyard._wire import ProtoEnum, time_from_pb, time_to_pb
from modelyard.v1 import types_pb2


def test_an_enum_maps_each_member_to_its_prefixed_proto_value_and_back() -> None:
    stages = ProtoEnum(Stage, types_pb2.Stage.Value, "STAGE_")
    assert stages.to_pb(Stage.PRODUCTION) == types_pb2.STAGE_PRODUCTION
    assert stages.from_pb(types_pb2.STAGE_PRODUCTION) is Stage.PRODUCTION
    assert stages.from_pb(0) is Stage.UNSPECIFIED
    assert stages.from_pb(99) is None
    kinds = ProtoEnum(ModelKind, types_pb2.ModelKind.Value, "MODEL_KIND_")
    assert [kinds.from_pb(kinds.to_pb(kind)) for kind in ModelKind] == list(ModelKind)


def test_times_cross_as_utc_to_the_microsecond() -> None:
    moment = datetime(2026, 12, 5, 1, 2, 3, 456789, tzinfo=timezone(timedelta(hours=2)))
    assert time_from_pb(time_to_pb(moment)) == moment.astimezone(UTC)
    assert time_from_pb(time_to_pb(moment.replace(tzinfo=None))) == moment.replace(tzinfo=UTC)


def test_a_time_out_of_datetimes_range_is_a_value_error_naming_it() -> None:
    with pytest.raises(ValueError, match="not a time between years 1 and 9999"):
        time_from_pb(timestamp_pb2.Timestamp(seconds=10**12))
