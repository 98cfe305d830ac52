"""Property-based tests where the input space is the point: manifest rows through the Parquet schema, and
recipe files with any mix of valid, unknown and ill-typed overrides."""

from __future__ import annotations

import dataclasses
import json
import string

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from synthvid.factory.generate.params import VideoParams
from synthvid.factory.generate.recipe import from_variant, load_recipe
from synthvid.manifests.schema import SAMPLE_SCHEMA, SHARD_SCHEMA, parquet_bytes_to_table, rows_to_parquet_bytes

PROPERTY = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)


def _value(field: pa.Field):
    """A strategy of values of one Parquet column, from its Arrow type (so new columns are covered too)."""
    t = field.type
    if pa.types.is_string(t):
        base = text
    elif pa.types.is_int32(t):
        base = st.integers(-2**31, 2**31 - 1)
    elif pa.types.is_int64(t):
        base = st.integers(-2**63, 2**63 - 1)
    elif pa.types.is_float32(t):
        base = st.floats(width=32, allow_nan=False)
    elif pa.types.is_float64(t):
        base = st.floats(allow_nan=False)
    elif pa.types.is_boolean(t):
        base = st.booleans()
    elif pa.types.is_list(t) and pa.types.is_string(t.value_type):
        base = st.lists(text, max_size=4)
    else:
        raise AssertionError(f"no strategy for column {field.name}: {t} (add one)")
    return st.one_of(st.none(), base) if field.nullable else base


def _shape(schema: pa.Schema) -> list:
    """Names, types and nullability (a list's item type, not the name Parquet gives its child)."""
    return [(f.name, f.type.value_type if pa.types.is_list(f.type) else f.type, f.nullable) for f in schema]


def rows_of(schema: pa.Schema, key: str):
    row = st.fixed_dictionaries({f.name: _value(f) for f in schema})
    return st.lists(row, max_size=8, unique_by=lambda r: r[key])


@PROPERTY
@given(rows=rows_of(SAMPLE_SCHEMA, "key"), seed=st.randoms(use_true_random=False))
def test_sample_manifest_rows_round_trip(rows, seed):
    data = rows_to_parquet_bytes(rows, SAMPLE_SCHEMA, "key")
    shuffled = list(rows)
    seed.shuffle(shuffled)
    assert rows_to_parquet_bytes(shuffled, SAMPLE_SCHEMA, "key") == data       # row order never shows
    table = parquet_bytes_to_table(data)
    assert _shape(table.schema) == _shape(SAMPLE_SCHEMA) and table.schema.metadata == SAMPLE_SCHEMA.metadata
    assert table.to_pylist() == sorted(rows, key=lambda r: r["key"])          # every value exactly back


@PROPERTY
@given(rows=rows_of(SHARD_SCHEMA, "name"))
def test_shard_manifest_rows_round_trip(rows):
    table = parquet_bytes_to_table(rows_to_parquet_bytes(rows, SHARD_SCHEMA, "name"))
    assert table.to_pylist() == sorted(rows, key=lambda r: r["name"])


@PROPERTY
@given(rows=rows_of(SAMPLE_SCHEMA, "key"), column=st.sampled_from([f.name for f in SAMPLE_SCHEMA if not f.nullable]))
def test_a_missing_required_value_is_refused(rows, column):
    assume(rows)
    rows[0] = {**rows[0], column: None}
    with pytest.raises(ValueError, match=f"lack required column '{column}'"):
        rows_to_parquet_bytes(rows, SAMPLE_SCHEMA, "key")
    del rows[0][column]
    with pytest.raises(ValueError, match=f"lack required column '{column}'"):
        rows_to_parquet_bytes(rows, SAMPLE_SCHEMA, "key")


# --------------------------------------------------------------------------------------------- recipes
BASE = "accelerating-shapes"
FIELDS = {f.name: f for f in dataclasses.fields(VideoParams)}


def _toml(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)                 # a TOML basic string
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    raise TypeError(value)


def _write(tmp_path, params: dict, name: str = "my-recipe"):
    path = tmp_path / f"{name}.toml"
    body = "".join(f"{k} = {_toml(v)}\n" for k, v in params.items())
    path.write_text(f'base = "{BASE}"\ndescription = "property test"\n[params]\n{body}')
    return path


def _ill_typed(default):
    """A value of the wrong type for a parameter whose default is `default`."""
    if isinstance(default, bool):
        return st.sampled_from(["yes", 1, [True]])
    if isinstance(default, (int, float)):
        return st.sampled_from(["3", [1], True] if isinstance(default, int) else ["3.0", [1.0], False])
    if isinstance(default, str):
        return st.sampled_from([1, 2.5, True, ["a"]])
    return st.sampled_from(["a", 1])            # a tuple parameter needs a list


base_params = from_variant(BASE).params
valid_overrides = st.dictionaries(st.sampled_from(sorted(FIELDS)), st.none(), max_size=6).map(
    lambda keys: {k: list(v) if isinstance(v := getattr(base_params, k), tuple) else v for k in keys})


@PROPERTY
@given(overrides=valid_overrides)
def test_valid_overrides_round_trip_into_the_card(tmp_path, overrides):
    """Any set of valid values (the base's own, so every combination validates) loads, resolves to those
    values, and is recorded in the recipe the card holds, exactly as written."""
    recipe = load_recipe(_write(tmp_path, overrides))
    assert recipe.params == base_params
    card = recipe.to_dict()
    assert card["base"] == BASE and card["name"] == "my-recipe"
    assert card["overrides"] == overrides
    assert json.loads(json.dumps(card))["params"] == json.loads(json.dumps(base_params.to_dict()))


@PROPERTY
@given(overrides=valid_overrides,
       unknown=st.text(string.ascii_lowercase + "_", min_size=1, max_size=12).filter(lambda k: k not in FIELDS))
def test_unknown_keys_are_refused_naming_the_key(tmp_path, overrides, unknown):
    with pytest.raises(ValueError, match=f"'{unknown}'"):
        load_recipe(_write(tmp_path, {**overrides, unknown: 1}))


@PROPERTY
@given(data=st.data(), key=st.sampled_from(sorted(FIELDS)))
def test_ill_typed_values_are_refused_naming_the_key(tmp_path, data, key):
    value = data.draw(_ill_typed(getattr(VideoParams(), key)))
    with pytest.raises(ValueError, match=f"'{key}'") as err:
        load_recipe(_write(tmp_path, {key: value}))
    assert "\n" not in str(err.value)


@PROPERTY
@given(speed=st.floats(0.1, 10, allow_nan=False), factor=st.floats(1.0, 3.0))
def test_numeric_overrides_reach_the_parameters(tmp_path, speed, factor):
    recipe = load_recipe(_write(tmp_path, {"speed_min": speed, "speed_max": speed * factor}))
    assert (recipe.params.speed_min, recipe.params.speed_max) == (speed, speed * factor)
    assert recipe.to_dict()["overrides"] == {"speed_min": speed, "speed_max": speed * factor}
    assert np.isfinite(recipe.params.speed_max)
