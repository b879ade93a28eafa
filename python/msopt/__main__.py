"""Command line: ``python -m msopt bench`` times msopt's optimizer steps beside NumPy (and
torch when installed) on built-in sizes and prints the table."""

from __future__ import annotations

import argparse
import os
import platform
import sys

import numpy as np

import msopt
from msopt import _core


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
    return (f"{_cpu_name()}, {os.cpu_count()} CPUs, kernels: {_core.isa()}; "
            f"Python {platform.python_version()}, NumPy {np.__version__}{tv}, "
            f"msopt {msopt.__version__}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="msopt", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    bench = sub.add_parser("bench", help="time the optimizers against NumPy (and torch)")
    bench.add_argument("--quick", action="store_true",
                       help="smaller sizes (2e6 parameters, a 2e5-row table)")
    args = parser.parse_args(argv)
    if args.command == "bench":
        from msopt import _bench

        print(f"msopt bench on {machine_line()}", flush=True)
        print("medians of repeated steps; 'msopt speed-up' = peer time / msopt time; "
              "'share of floor' = 7-stream loop time scaled to the case's bytes / time\n",
              flush=True)
        table = _bench.run(quick=args.quick, echo=lambda s: print("  " + s, flush=True))
        print("\n" + table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
