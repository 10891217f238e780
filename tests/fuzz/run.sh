#!/usr/bin/env bash
# A long fuzz run that goes on past findings: runs fuzz_core.py again and again
# (each run stops at its first finding) until SECONDS_TOTAL seconds have passed,
# keeping the corpus (so coverage feedback accumulates) and every finding in
# OUT/artifacts. Run it in the venv that has the sanitizer build and atheris
# (README.md); it sets the sanitizer environment itself.
#
#   tests/fuzz/run.sh OUT SECONDS_TOTAL [extra libFuzzer flags]
#
# At the end it prints the runs, findings, executions and executions per second.
set -uo pipefail
out=${1:?usage: run.sh OUT SECONDS_TOTAL [libFuzzer flags]}
total=${2:?usage: run.sh OUT SECONDS_TOTAL [libFuzzer flags]}
shift 2
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out/corpus" "$out/artifacts" "$out/logs"

export LD_PRELOAD="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libstdc++.so)"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:allocator_may_return_null=1:max_allocation_size_mb=4096}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:abort_on_error=1:print_stacktrace=1}

start=$SECONDS
runs=0
execs=0
fuzz_seconds=0
while (( SECONDS - start < total )); do
  left=$(( total - (SECONDS - start) ))
  log="$out/logs/run-$runs.log"
  t0=$SECONDS
  python "$here/fuzz_core.py" "$out/corpus" -max_total_time="$left" -timeout=30 -rss_limit_mb=8192 \
    -max_len=512 -len_control=0 -print_final_stats=1 -artifact_prefix="$out/artifacts/" "$@" > "$log" 2>&1
  fuzz_seconds=$(( fuzz_seconds + SECONDS - t0 ))
  n=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  if [[ -z "$n" ]]; then  # no final stats: take the last status line
    n=$(grep -oE '^#[0-9]+' "$log" | tail -1 | tr -d '#')
  fi
  execs=$(( execs + ${n:-0} ))
  runs=$(( runs + 1 ))
done
findings=$(find "$out/artifacts" -type f | wc -l)
echo "runs: $runs  findings (inputs in $out/artifacts): $findings"
echo "executions: $execs in $fuzz_seconds s: $(( execs / (fuzz_seconds > 0 ? fuzz_seconds : 1) )) exec/s"
