"""Where should the linear layer hand a product to BLAS?  Times one fused training step
(forward, loss, backward, update) on each code path over a range of shapes, and prints the
table the thresholds in csrc/msopt/linear/linear.hpp were chosen from.

    python bench/crossover.py
"""

from __future__ import annotations

import numpy as np

import msopt
from msopt import _bench, _core

PATHS = {"tiles (2 <= C <= 16)": 2**62, "BLAS": 0}  # the tile_max that forces each path


def main() -> None:
    saved = _core.linear_tile_max()
    rng = np.random.default_rng(0)
    print("B x d x C (multiply-adds)        " + "".join(f"{p:>22}" for p in PATHS))
    try:
        for C in (1, 10, 16, 64, 256):
            for B, d in ((32, 16), (32, 100), (64, 256), (128, 512), (256, 1024)):
                X = rng.standard_normal((B, d), dtype=np.float32)
                y = rng.integers(0, max(C, 2), B)
                loss = "logistic" if C == 1 else "softmax"
                m = msopt.LinearModel(d, C, loss, optimizer="sgd", lr=1e-3, dtype=np.float32)
                cells = []
                for name, tile_max in PATHS.items():
                    if name.startswith("tiles") and not 2 <= C <= 16:
                        cells.append(f"{'-':>22}")
                        continue
                    _core.linear_tile_max(tile_max)
                    t = _bench.time_median(lambda m=m, X=X, y=y: m.step(X, y), min_time=0.2)
                    cells.append(f"{t * 1e6:>19.1f} us")
                print(f"{B:>4} x {d:>5} x {C:>4} = {B * d * C:>10,}  " + "".join(cells))
    finally:
        _core.linear_tile_max(saved)


if __name__ == "__main__":
    main()
