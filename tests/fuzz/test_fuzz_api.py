"""Fuzz every public entry point of msopt with one perturbed argument (see harness)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from .harness import check_call, check_valid
from .known import params_for
from .specs_api import SPECS


@pytest.mark.parametrize("spec", SPECS, ids=str)
@pytest.mark.parametrize("seed", range(3))
def test_valid_call(spec, seed):
    check_valid(spec, seed)


@pytest.mark.parametrize("spec", params_for(SPECS))
@settings(settings.get_profile("msopt-fuzz"))
@given(data=st.data())
def test_fuzz_api(spec, data):
    check_call(spec, data)


@pytest.mark.slow
@pytest.mark.parametrize("spec", params_for(SPECS))
@settings(settings.get_profile("msopt-fuzz-long"))
@given(data=st.data())
def test_fuzz_api_long(spec, data):
    check_call(spec, data)
