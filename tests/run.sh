#!/usr/bin/env bash
# run.sh — the one test runner: every unit binary, then every script test.
# Prints each suite's PASS/FAIL lines, the failures with where they are, and
# one closing line "N passed, N failed".
# Usage: tests/run.sh [PATTERN]   (PATTERN filters suites by name)
set -u
cd "$(dirname "$0")/.."
export NB=${NB:-$PWD/build/asan/neonblue}
export NB_ROOT=$PWD
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
pat=${1:-}
logdir=$(mktemp -d /tmp/nbtest.XXXXXX)
export NB_TEST_TMP=$logdir
passed=0
failed=0
failures=()
stack_home=

cleanup() {
	if [ -n "$stack_home" ]; then
		"$NB" stack down --home "$stack_home" >/dev/null 2>&1
	fi
}
trap cleanup EXIT

suites=()
for t in build/asan/tests/test_*; do [ -x "$t" ] && suites+=("$t"); done
for t in tests/integration/*.sh tests/cli/*.sh tests/tui/*.sh; do [ -f "$t" ] && suites+=("$t"); done

# A shared embedded stack for the suites that declare "# needs: stack".
need_stack=0
for s in "${suites[@]}"; do
	[ -n "$pat" ] && [[ "$s" != *$pat* ]] && continue
	case "$s" in *.sh) grep -q '^# needs: stack' "$s" && need_stack=1 ;; esac
done
if [ "$need_stack" = 1 ]; then
	stack_home=$logdir/stack
	echo "== starting a shared embedded stack in $stack_home"
	if ! "$NB" stack up --home "$stack_home" >"$logdir/stack-up.log" 2>&1; then
		cat "$logdir/stack-up.log"
		echo "FAIL runner:stack-up"
		echo "  at tests/run.sh: neonblue stack up failed (log above)"
		failed=$((failed + 1)); failures+=("runner:stack-up  (neonblue stack up failed)")
	fi
	export NEONBLUE_HOME=$stack_home
fi

# run_suite FILE: runs one suite into its log; prints its block (under a lock,
# so two lanes never interleave lines) and leaves NAME.res ("passed failed")
# and NAME.fail (its failure lines) for the closing tally.
run_suite() {
	local s=$1 name log start rc p f out
	name=$(basename "$s"); name=${name%.sh}
	log=$logdir/$name.log
	out=$logdir/$name.out
	start=$(date +%s)
	if [[ "$s" == *.sh ]]; then
		T_SUITE=$name timeout 900 bash "$s" >"$log" 2>&1
	else
		timeout 900 "$s" >"$log" 2>&1
	fi
	rc=$?
	{
		echo "== $name"
		grep -E '^(PASS|FAIL) |^  at ' "$log"
	} >"$out"
	p=$(grep -c '^PASS ' "$log"); f=$(grep -c '^FAIL ' "$log")
	grep -A3 '^FAIL ' "$log" | grep -E '^(FAIL|  at)' >"$logdir/$name.fail"
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		# a crash, a sanitizer report or a timeout: a failure even with no FAIL line
		{
			echo "FAIL $name:exit"
			echo "  at $s: exited with status $rc; last lines of $log:"
			tail -n 25 "$log" | sed 's/^/    /'
		} >>"$out"
		f=$((f + 1))
		printf '%s\n' "FAIL $name:exit" "  at $s: exited with status $rc (see log above)" >>"$logdir/$name.fail"
	fi
	echo "   ($p passed, $f failed, $(($(date +%s) - start)) s)" >>"$out"
	echo "$p $f" >"$logdir/$name.res"
	flock "$logdir/.print" cat "$out"
}

# Two lanes (NB_TEST_JOBS=1: one): the suites that share the embedded stack
# run one after the other in one lane; the unit binaries and the suites that
# start their own servers run in the other, at the same time.
jobs=${NB_TEST_JOBS:-2}
lane_shared=()
lane_own=()
for s in "${suites[@]}"; do
	[ -n "$pat" ] && [[ "$s" != *$pat* ]] && continue
	if [ "$jobs" -gt 1 ] && { [[ "$s" != *.sh ]] || ! grep -q '^# needs: stack' "$s"; }; then
		lane_own+=("$s")
	else
		lane_shared+=("$s")
	fi
done
( for s in "${lane_own[@]}"; do run_suite "$s"; done ) &
own_pid=$!
for s in "${lane_shared[@]}"; do run_suite "$s"; done
wait "$own_pid"

for s in "${suites[@]}"; do
	[ -n "$pat" ] && [[ "$s" != *$pat* ]] && continue
	name=$(basename "$s"); name=${name%.sh}
	if [ -f "$logdir/$name.res" ]; then
		read -r p f <"$logdir/$name.res"
	else
		p=0; f=1; echo "FAIL $name:not-run" >"$logdir/$name.fail"
	fi
	passed=$((passed + p)); failed=$((failed + f))
	while IFS= read -r line; do failures+=("$line"); done <"$logdir/$name.fail"
done

echo
if [ "$failed" -gt 0 ]; then
	echo "Failures:"
	printf '%s\n' "${failures[@]}"
	echo
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
