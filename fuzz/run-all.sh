#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default: $FUZZ_SECONDS, else 60), one
# after another, and fails when any of them crashed:
#   fuzz/run-all.sh [SECONDS]
# See run.sh for FUZZ_RSS_MB and FUZZ_ARGS. RUSTC_BOOTSTRAP=1 lets cargo fuzz use
# the nightly features it needs on a stable toolchain.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
seconds="${1:-${FUZZ_SECONDS:-60}}"
export RUSTC_BOOTSTRAP=1

# One build for all targets, so the time limits are spent fuzzing.
(cd "$here" && cargo fuzz build)

passed=0
failed=()
for t in $(cd "$here" && cargo fuzz list); do
    if "$here/run.sh" "$t" "$seconds"; then
        passed=$((passed + 1))
    else
        failed+=("$t")
    fi
done
if ((${#failed[@]})); then
    echo "fuzz targets that crashed: ${failed[*]} (artifacts in $here/artifacts/)"
fi
echo "fuzz: $passed passed, ${#failed[@]} failed"
((${#failed[@]} == 0))
