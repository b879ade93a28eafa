"""Prints, after the pytest-benchmark tables, msopt's ratio to each peer per group."""

from __future__ import annotations

from msopt import _bench


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    session = getattr(config, "_benchmarksession", None)
    if session is None or not session.benchmarks:
        return
    groups: dict[str, tuple[_bench.Case, dict[str, float]]] = {}
    for b in session.benchmarks:
        info = b.extra_info
        if "params" not in info:
            continue
        case, medians = groups.setdefault(
            b.group, (_bench.Case(b.group, info["size"], info["params"],
                                  info["bytes_per_param"], info["threads"],
                                  unit=info.get("unit", "param"),
                                  floor_scale=info.get("floor_scale", 0.0)), {}))
        medians[info["runner"]] = b.stats.median
    rows = []
    for case, medians in groups.values():
        if "msopt" in medians:
            rows += _bench.table_rows(case, medians)
    terminalreporter.write_sep("=", "msopt beside its peers (medians from this run)")
    terminalreporter.write_line(_bench.format_table(rows))
    shares = {b.group: b.extra_info["state_share"] for b in session.benchmarks
              if "state_share" in b.extra_info}
    for group, share in shares.items():
        terminalreporter.write_line(f"{group}: optimizer state {share:.1%} of float32's")
    for b in session.benchmarks:
        if "table" in b.extra_info:
            terminalreporter.write_sep("-", "time to accuracy (one fit each)")
            for row in b.extra_info["table"]:
                terminalreporter.write_line("  ".join(row))
