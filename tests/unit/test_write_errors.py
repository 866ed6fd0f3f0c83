"""A refused bulk write: duplicate keys are writes made before, anything else an error."""

from __future__ import annotations

from pymongo.errors import BulkWriteError

from vpp.store.write_errors import DUPLICATE_KEY, refused_but_duplicates


def refused(*codes: int) -> BulkWriteError:
    errors = [{"index": i, "code": c, "errmsg": f"refused {c}"} for i, c in enumerate(codes)]
    return BulkWriteError({"writeErrors": errors, "nInserted": 0})


def test_only_duplicate_keys_leave_nothing_refused() -> None:
    assert refused_but_duplicates(refused(DUPLICATE_KEY, DUPLICATE_KEY)) == []


def test_any_other_refusal_is_returned_with_its_message() -> None:
    others = refused_but_duplicates(refused(DUPLICATE_KEY, 121))  # 121: failed validation
    assert [(e["index"], e["errmsg"]) for e in others] == [(1, "refused 121")]
