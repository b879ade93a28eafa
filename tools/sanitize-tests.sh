#!/usr/bin/env bash
# Builds msopt with AddressSanitizer and UBSan (the MSOPT_SANITIZE CMake option) into a
# scratch folder and runs the test suite against that build.  The torch comparisons are left
# out (torch and a preloaded ASan runtime do not mix), and so are the fork tests (every test
# with "fork" in its name) and the Dask ones (their worker processes would each start
# Python under the preloaded runtime).  The concurrency suite's subprocesses inherit LD_PRELOAD and the
# options below, so its thread races run sanitized too: an out-of-bounds read that would not
# crash a plain build still fails there.
# Usage: tools/sanitize-tests.sh   (from the repository, with the test extras installed)
set -euo pipefail
cd "$(dirname "$0")/.."
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
python -m pip install --no-deps --target "$out/site" \
  -Ccmake.define.MSOPT_SANITIZE=ON -Ccmake.build-type=RelWithDebInfo -Cbuild-dir="$out/build" . \
  >"$out/build.log" 2>&1 || { tail -50 "$out/build.log"; exit 1; }
runtime="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libubsan.so)"
cd "$out"  # away from the source tree, so the sanitized build is the one imported
LD_PRELOAD="$runtime" \
ASAN_OPTIONS=detect_leaks=0:halt_on_error=1:allocator_may_return_null=1 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
PYTHONPATH="$out/site" \
  python -m pytest "$OLDPWD/tests" -q -p no:cacheprovider -k "not torch and not fork and not dask" \
  -c "$OLDPWD/pyproject.toml" --rootdir "$OLDPWD"
