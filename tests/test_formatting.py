"""The one number policy: p-values, plain numbers, percent."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from salanalysis.formatting import (
    format_number,
    format_p,
    format_p_value,
    format_percent,
    format_value,
    is_p_column,
)


@pytest.mark.parametrize("p, text", [
    (0.012345, "0.012"),
    (0.37, "0.37"),
    (0.1, "0.10"),       # two significant digits, trailing zero kept
    (0.05, "0.050"),
    (1.0, "1.0"),
    (0.99996, "1.0"),
    (0.00012, "0.00012"),
    (1e-4, "0.00010"),   # the bound itself is printed
    (9.99e-5, "< 1e-4"),
    (0.0, "< 1e-4"),
    (np.float64(3e-300), "< 1e-4"),
    (math.nan, "n/a"),
    (None, "n/a"),
    (math.inf, "n/a"),
])
def test_format_p_value(p, text):
    assert format_p_value(p) == text


def test_format_p_labelled_forms():
    assert format_p(0.0123) == "p=0.012"
    assert format_p(0.0123, spaced=True) == "p = 0.012"
    assert format_p(2e-9) == "p<1e-4"
    assert format_p(2e-9, spaced=True) == "p < 1e-4"
    assert format_p(math.nan) == "p=n/a" and format_p(None, spaced=True) == "p = n/a"


@pytest.mark.parametrize("v, text", [
    (3, "3"),
    (np.int64(7), "7"),
    (2.0, "2"),            # whole floats are counts
    (10743.0, "10743"),
    (10743.2, "10743"),    # was 1.074e+04
    (-49158.7, "-49159"),
    (999.96, "1000"),
    (12.3456, "12.35"),
    (1.2345, "1.234"),
    (0.123456, "0.1235"),
    (-0.0372, "-0.0372"),
    (0.001, "0.001"),
    (0.00049, "0.00049"),
    (1.5e-6, "0.0000015"),  # was 1.500e-06
    (-4e-5, "-0.000040"),
    (0.0, "0"),
    (-0.0, "0"),
    (math.inf, "inf"),
    (-math.inf, "-inf"),
    (math.nan, ""),
    (None, ""),
    (pd.NA, ""),
    (True, "true"),
    (np.bool_(False), "false"),
    ("x", "x"),
])
def test_format_number_never_scientific(v, text):
    assert format_number(v) == text
    assert "e+" not in text and "e-" not in text


def test_format_number_random_values_stay_plain(rng):
    for v in np.concatenate([rng.normal(0, 1, 200) * 10.0 ** rng.integers(-8, 9, 200), [1e-12, 5e14]]):
        text = format_number(float(v))
        assert "e" not in text.lower() or text in ("inf", "-inf"), (v, text)
        # the printed value is close to the value (relative, at the printed precision)
        assert float(text) == pytest.approx(float(v), rel=0.06, abs=0.5 if abs(v) >= 1000 else 0)


def test_p_columns_and_format_value():
    assert is_p_column("p_val") and is_p_column("p_holm") and is_p_column("p_corr")
    assert not is_p_column("prevalence") and not is_p_column("p") and not is_p_column(3)
    assert format_value(0.000012, "p_holm") == "< 1e-4"
    assert format_value(0.0123, "p_val") == "0.012"
    assert format_value(math.nan, "p_val") == ""
    assert format_value(0.0123, "r") == "0.0123"
    assert format_value("n/a", "p_val") == "n/a"


def test_format_percent_is_table1s_one_decimal():
    assert format_percent(0.715) == "71.5"
    assert format_percent(0.715, 0.7, 0.73) == "71.5 [70.0, 73.0]"
    assert format_percent(math.nan) == "-"


def test_float_noise_prints_as_zero_and_intervals_say_when_there_are_none():
    from salanalysis.formatting import format_fixed, format_interval

    # 0.1 + 0.2 - 0.3 is 5.6e-17, not a number the tables hold: it printed as 0.000000000000000056
    assert format_number(0.1 + 0.2 - 0.3) == "0" and format_number(-5.2e-18) == "0"
    assert format_number(1e-12) == "0.000000000001"  # at the noise bound: still printed
    # KLD of identical maps is -1e-17, printed as -0.0000
    assert format_fixed(-1e-17) == "0.0000" and format_fixed(-1e-17, sign=True) == "+0.0000"
    assert format_fixed(-0.00006) == "-0.0001" and format_fixed(0.12345, 3) == "0.123"
    assert format_interval(float("nan"), float("nan")) == "no interval"
    assert format_interval(None, 0.2, none="no intervals") == "no intervals"
    assert format_interval(-0.01, 0.02) == "[-0.0100, +0.0200]"
    assert format_interval(-1e-18, 0.5, 2, sign=False) == "[0.00, 0.50]"
