"""ArrayJSONEncoder: the JSON text of stored plot arrays is orjson's, and it reads back as the
value ``json.dumps`` would have stored (floats exactly, through both databases)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from labdb.lib.json_encoding import ArrayJSONEncoder

_finite = st.floats(allow_nan=False, allow_infinity=False)
_leaves = st.none() | st.booleans() | st.integers(-2**63, 2**63 - 1) | _finite | st.text()
_values = st.recursive(_leaves, lambda inner: st.lists(inner, max_size=5)
                       | st.dictionaries(st.text(), inner, max_size=5), max_leaves=30)


@given(_values)
def test_any_json_value_reads_back_as_json_dumps_would_have_stored_it(value):
    assert json.loads(json.dumps(value, cls=ArrayJSONEncoder)) == json.loads(json.dumps(value))


def test_floats_read_back_bit_for_bit_and_the_odd_cases_follow_json():
    values = [0.1, 1e16, 1e-7, 5e-324, 1.7976931348623157e308, -0.0, 2.5]
    assert json.loads(json.dumps(values, cls=ArrayJSONEncoder)) == values
    assert math.copysign(1.0, json.loads(json.dumps([-0.0], cls=ArrayJSONEncoder))[0]) == -1.0
    # numpy floats (a float subclass), non-str keys and integers past 64 bits as json writes them
    odd = {1: np.float64(1.5), "big": 2**70, "é": "μ(E)"}
    assert json.loads(json.dumps(odd, cls=ArrayJSONEncoder)) == json.loads(json.dumps(odd))
    # not JSON: NaN is written as null (json.dumps writes NaN, which PostgreSQL's jsonb refuses)
    assert json.dumps({"x": math.nan}, cls=ArrayJSONEncoder) == '{"x":null}'
    with pytest.raises(TypeError, match="not JSON serializable"):
        json.dumps({"x": object()}, cls=ArrayJSONEncoder)


@pytest.mark.django_db
def test_a_stored_result_reads_back_equal(member):
    from analysis.models import AnalysisRun

    arrays = {"k": np.linspace(0, 14, 700).tolist(), "chi": np.sin(np.arange(700) / 7).tolist()}
    run = AnalysisRun.objects.create(kind="pl_decay", owner=member, requested_by=member,
                                     idempotency_key="json-encoding", output={"arrays": arrays},
                                     result_data={"fit": {"arrays": arrays}})
    run.refresh_from_db()
    assert run.output == {"arrays": arrays} and run.result_data == {"fit": {"arrays": arrays}}
