"""Scalars on the wire, one way for the SDK and every service's api edge: Python enums to and
from their proto enums (one table per enum, built once) and datetimes to and from Timestamps.

Proto enum values are named ``PREFIX_NAME`` (``STAGE_PRODUCTION``), Python members ``NAME``. What
a number that is not in the table means is the caller's to say: the SDK reads it as UNSPECIFIED
(a newer server), a service refuses it naming the field (``from_pb`` returns None for both).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Generic, TypeVar

from google.protobuf import timestamp_pb2

__all__ = ["ProtoEnum", "time_from_pb", "time_to_pb"]

E = TypeVar("E", bound=StrEnum)


class ProtoEnum(Generic[E]):
    """The mapping of one Python enum to its proto enum. Members without a proto value of their
    own (none today) are left out; ``UNSPECIFIED`` maps to 0 when the Python enum has it."""

    def __init__(self, cls: type[E], value_of: Callable[[str], int], prefix: str) -> None:
        self.cls = cls
        self._to_pb: dict[E, int] = {}
        for member in cls:
            try:
                self._to_pb[member] = value_of(prefix + member.value)
            except ValueError:
                continue
        self._from_pb = {number: member for member, number in self._to_pb.items()}

    def to_pb(self, member: E) -> int:
        return self._to_pb[member]

    def from_pb(self, number: int) -> E | None:
        """The member for ``number``; None for 0 (unset) when the enum has no UNSPECIFIED, and
        for a number this table does not know."""
        return self._from_pb.get(number)


def time_to_pb(moment: datetime) -> timestamp_pb2.Timestamp:
    """A datetime as a Timestamp; a naive one is taken as UTC. (Timestamp.FromDatetime goes
    through utctimetuple() and costs a third of a version's conversion.)"""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return timestamp_pb2.Timestamp(seconds=math.floor(moment.timestamp()), nanos=moment.microsecond * 1000)


def time_from_pb(stamp: timestamp_pb2.Timestamp) -> datetime:
    """An aware UTC datetime; ValueError for a time a datetime cannot hold (years 1 to 9999)."""
    try:
        return stamp.ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError):
        raise ValueError(f"{stamp.seconds} s {stamp.nanos} ns is not a time between years 1 and 9999") from None
