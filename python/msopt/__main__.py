"""Command line: ``python -m msopt bench`` times msopt's optimizer steps beside NumPy (and
torch when installed) on built-in sizes and prints the table; ``python -m msopt --help``
lists the other commands (:mod:`msopt.cli`: fastText's supervised, test, predict, word2vec,
nn, analogies, and the language model, Doc2Vec and the sentence encoder)."""

from __future__ import annotations

import os
import platform
import sys

import numpy as np

import msopt
from msopt import _core
from msopt.cli import main

__all__ = ["machine_line", "main"]


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_line() -> str:
    try:
        import torch

        tv = f", torch {torch.__version__}"
    except ImportError:
        tv = ", torch not installed"
    return (f"{_cpu_name()}, {os.cpu_count()} CPUs, kernels: {_core.isa()}, BLAS: OpenBLAS "
            f"{_core.blas_kernels()}; "
            f"Python {platform.python_version()}, NumPy {np.__version__}{tv}, "
            f"msopt {msopt.__version__}")


if __name__ == "__main__":
    sys.exit(main())
