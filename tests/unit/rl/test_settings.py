"""The data split: what validation and training may share, and what evaluation never does."""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

from vpp.ml.rl.settings import RLSettings


def test_validation_months_are_unseen_by_training_and_its_buildings_are_not_evaluated() -> None:
    rl = RLSettings()
    assert not set(rl.eval_months) & set(rl.train_months)
    assert not set(rl.val_buildings) & set(rl.eval_buildings)
    assert not set(rl.train_buildings) & set(rl.eval_buildings)
    assert set(rl.train_buildings) < set(rl.val_buildings)  # seen homes, unseen months


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"val_buildings": [9, 11]}, "val_buildings overlap eval_buildings: {11}"),
        ({"train_buildings": [1, 17], "val_buildings": [9]}, "train_buildings overlap"),
        ({"train_months": [4, 5]}, "eval_months overlap train_months"),
        ({"val_buildings": [18]}, "less than or equal to 17"),
    ],
)
def test_a_split_that_leaks_into_evaluation_is_refused(
    fields: dict[str, object], message: str
) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        RLSettings.model_validate(fields)
