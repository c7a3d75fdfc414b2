#!/usr/bin/env bash
# run.sh — runs the libFuzzer targets built in build/fuzz/ (make fuzz-build),
# one after the other, each for SECONDS from its seeds (tests/fuzz/corpus/NAME)
# plus what earlier runs found (FUZZ_WORK/NAME, default build/fuzz/corpus).
# Prints one line per target:
#   fuzz_NAME: N executions in S s, corpus C, 0 findings
# or, on a crash, a leak, a timeout or an out-of-memory, "... FINDING" with
# libFuzzer's summary and the input it saved (FUZZ_WORK/../artifacts). Exits 1
# when any target found something (or did not run).
# Usage: tests/fuzz/run.sh SECONDS [NAME...]
set -u
cd "$(dirname "$0")/../.."
secs=${1:-60}
shift || true
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
	for f in tests/fuzz/fuzz_*.c; do n=${f##*/fuzz_}; names+=("${n%.c}"); done
fi
work=${FUZZ_WORK:-build/fuzz/corpus}
arts=$work/../artifacts
mkdir -p "$arts"
export ASAN_OPTIONS=${FUZZ_ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:allocator_may_return_null=0}
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
bad=0
for n in "${names[@]}"; do
	bin=build/fuzz/fuzz_$n
	if [ ! -x "$bin" ]; then
		echo "fuzz_$n: not built (make fuzz-build) FINDING"
		bad=1
		continue
	fi
	mkdir -p "$work/$n"
	log=$work/../fuzz_$n.log
	start=$(date +%s)
	"$bin" -max_total_time="$secs" ${FUZZ_SEED:+-seed=$FUZZ_SEED} -timeout=10 -rss_limit_mb=2048 -detect_leaks=1 \
		-print_final_stats=1 -artifact_prefix="$arts/$n-" \
		"$work/$n" "tests/fuzz/corpus/$n" >"$log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	corpus=$(ls "$work/$n" | wc -l)
	line="fuzz_$n: ${execs:-0} executions in $(($(date +%s) - start)) s, corpus $corpus"
	if [ "$rc" -eq 0 ] && [ -n "$execs" ]; then
		echo "$line, 0 findings"
	else
		bad=1
		echo "$line, exit $rc FINDING"
		grep -E '^(==[0-9]+==ERROR|SUMMARY:|.*runtime error:|artifact_prefix=|Test unit written|ALARM|==.*(leak|timeout|out-of-memory))' "$log" |
			head -n 8 | sed 's/^/    /'
		echo "    log: $log"
	fi
done
exit $bad
