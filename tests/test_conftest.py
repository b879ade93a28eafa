"""The test suite's own machinery: a failing test that used ``rng`` reports its seed, and
the seed replays through MSOPT_TEST_SEED."""

from __future__ import annotations

from pathlib import Path

CONFTEST = Path(__file__).with_name("conftest.py").read_text()


def test_failing_test_reports_its_seed(pytester, monkeypatch):
    monkeypatch.delenv("MSOPT_TEST_SEED", raising=False)
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_seeded="""
        def test_fails(rng):
            print("first draw", rng.integers(0, 2**31))
            assert False

        def test_passes(rng):
            assert rng.random() < 1
    """)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1, passed=1)
    result.stdout.fnmatch_lines(["*random seed*", "rng seed * replay with MSOPT_TEST_SEED=*"])
    line = next(x for x in result.outlines if x.startswith("rng seed "))
    seed = line.split()[2].rstrip(":")
    first = next(x for x in result.outlines if x.startswith("first draw"))

    # The seed replays the failing test's draws.
    monkeypatch.setenv("MSOPT_TEST_SEED", seed)
    again = pytester.runpytest("-p", "no:cacheprovider", "-k", "test_fails")
    again.assert_outcomes(failed=1)
    assert first in again.outlines
    assert f"rng seed {seed}: replay with MSOPT_TEST_SEED={seed} pytest " \
           "'test_seeded.py::test_fails'" in again.outlines
