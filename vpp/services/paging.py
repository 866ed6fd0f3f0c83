"""Opaque cursors for cursor pagination: a kind and a position, base64url-encoded.

A cursor names the last item a page ended on; the next page starts after it. Cursors are
opaque to clients but not secret: anyone can decode one, and a forged one only moves
where a page starts. A cursor of another kind, or one that does not decode, is bad input.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from vpp.services.errors import InvalidInputError

T = TypeVar("T")

MAX_PAGE = 1_000


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    has_next: bool
    end_cursor: str | None


def encode_cursor(kind: str, position: str) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{position}".encode()).decode().rstrip("=")


def decode_cursor(kind: str, cursor: str, field: str = "after") -> str:
    """The position inside a cursor of `kind`; `InvalidInputError` on `field` otherwise."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        text = base64.urlsafe_b64decode(padded.encode("ascii")).decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError):
        raise InvalidInputError.for_field(field, "not a cursor this API issued") from None
    found, sep, position = text.partition(":")
    if not sep or found != kind or not position:
        raise InvalidInputError.for_field(field, f"not a cursor of a {kind} list")
    return position


def encode_time_cursor(kind: str, at: datetime, item_id: str) -> str:
    """A cursor of a newest-first list: the last item's time and id (ties broken by id)."""
    return encode_cursor(kind, f"{at.isoformat()}|{item_id}")


def decode_time_cursor(kind: str, cursor: str, field: str = "after") -> tuple[datetime, str]:
    """The time and id inside an `encode_time_cursor` cursor of `kind`."""
    stamp, _, item_id = decode_cursor(kind, cursor, field).partition("|")
    try:
        return datetime.fromisoformat(stamp), item_id
    except ValueError:
        raise InvalidInputError.for_field(field, "not a cursor this API issued") from None


def check_page_size(first: int, field: str = "first", maximum: int = MAX_PAGE) -> None:
    if not 1 <= first <= maximum:
        raise InvalidInputError.for_field(field, f"must be between 1 and {maximum}")
