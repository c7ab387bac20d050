#!/usr/bin/env bash
# Runs the zombienet tests (all, or the ones named: `zombienet/run-tests.sh bridge reorg`)
# against the release binaries of the shared target directory, one network at a time.
set -euo pipefail
cd "$(dirname "$0")"

target_dir="${CARGO_TARGET_DIR:-$(cd .. && pwd)/target}"
export TAPCHAIN_BIN="$target_dir/release"
for binary in tapchain-node tapchain-relayer btc-sim; do
	if [[ ! -x "$TAPCHAIN_BIN/$binary" ]]; then
		echo "zombienet: $TAPCHAIN_BIN/$binary is missing; build it: cargo build --release --workspace" >&2
		exit 1
	fi
done
[[ -x node_modules/.bin/zombienet ]] || npm ci --no-audit --no-fund --loglevel=error

logs="${ZOMBIENET_DIR:-${TMPDIR:-/tmp}/tapchain-zombienet}"
mkdir -p "$logs"
tests=("$@")
((${#tests[@]})) || tests=(bridge rotation)
failed=()
for test in "${tests[@]}"; do
	echo "zombienet: $test"
	start=$(date +%s)
	# Each test's network directory (node databases, logs under logs/) replaces the last run's.
	dir="$logs/$test"
	rm -rf "$dir"
	if node_modules/.bin/zombienet -p native -l text -d "$dir" -f test "$test.zndsl"; then
		echo "zombienet: $test passed in $(( $(date +%s) - start )) s"
	else
		echo "zombienet: $test FAILED after $(( $(date +%s) - start )) s; logs in $dir/logs" >&2
		failed+=("$test")
	fi
done
if ((${#failed[@]})); then
	echo "zombienet: failed: ${failed[*]}" >&2
	exit 1
fi
