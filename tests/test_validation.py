"""Shared input checks: messages name the role, the column and the value."""

import pandas as pd
import pytest

from belonging_lib import ColumnError, DataError
from belonging_lib._validation import describe_rows, require_roles


DATA = pd.DataFrame({"ks2": [100, 104], "belonging": [3.2, 4.1], "fsm": [0, 1]})


def test_require_roles_returns_the_columns_in_order():
    assert require_roles(DATA, {"outcome": "ks2", "predictor": "belonging"}) == ["ks2", "belonging"]


def test_require_roles_names_the_role_of_a_non_string():
    with pytest.raises(DataError, match=r"`moderator` must be one column name, but \['fsm'\]"):
        require_roles(DATA, {"outcome": "ks2", "moderator": ["fsm"]})


def test_require_roles_names_a_missing_column_and_its_role():
    with pytest.raises(ColumnError, match=r"`predictor` column 'teacher_care' is not in the data"):
        require_roles(DATA, {"outcome": "ks2", "predictor": "teacher_care"})


def test_require_roles_rejects_one_column_in_two_roles():
    with pytest.raises(DataError, match=r"`x`, `m`, `y` must be 3 different columns"):
        require_roles(DATA, {"x": "fsm", "m": "belonging", "y": "fsm"})
    assert require_roles(DATA, {"a": "fsm", "b": "fsm"}, distinct=False) == ["fsm", "fsm"]


def test_describe_rows_counts_the_rows_not_shown():
    assert describe_rows(range(8)) == "rows 0, 1, 2, 3, 4 (and 3 more)"
    assert describe_rows([7]) == "row 7"
