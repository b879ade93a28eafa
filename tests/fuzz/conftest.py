"""Settings profiles of the fuzz suite: deterministic (derandomized, no example database, so
nothing is written into the checkout), a short budget in the default run and a long one
under the ``slow`` marker."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, Phase, settings

_COMMON = dict(
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=False,
    report_multiple_bugs=False,
    suppress_health_check=list(HealthCheck),
)

# MSOPT_FUZZ_EXAMPLES overrides the short budget (e.g. to replay a case at a larger size).
settings.register_profile(
    "msopt-fuzz", max_examples=int(os.environ.get("MSOPT_FUZZ_EXAMPLES", "20")),
    phases=(Phase.explicit, Phase.generate), **_COMMON)
settings.register_profile(
    "msopt-fuzz-long", max_examples=int(os.environ.get("MSOPT_FUZZ_LONG_EXAMPLES", "300")),
    phases=(Phase.explicit, Phase.generate, Phase.shrink), **_COMMON)

