# fuzz.sh — every libFuzzer target (tests/fuzz/fuzz_*.c, built by make
# fuzz-build with clang, ASan and UBSan) runs 10 s from its seed corpus; each
# must run executions and find no crash, leak, timeout or out-of-memory.
# FUZZ_TEST_TIME changes the 10 s (make test must stay under 15 minutes).
source "$NB_ROOT/tests/lib/t.sh"
cd "$NB_ROOT"

t_run builds 0 make --no-print-directory -s fuzz-build
work=$(mktemp -d "${NB_TEST_TMP:-/tmp}/fuzz.XXXXXX")
# a fixed seed: the same inputs in every run of make test (new findings come
# from make fuzz, not from CI by chance)
out=$(FUZZ_SEED=${FUZZ_SEED:-1} FUZZ_WORK=$work/corpus tests/fuzz/run.sh "${FUZZ_TEST_TIME:-10}")
echo "$out"
# check NAME: the target's line says it ran and found nothing (else its report).
check() {
	local line execs
	line=$(grep "^fuzz_$1: " <<<"$out")
	execs=$(sed -n 's/^fuzz_[a-z_]*: \([0-9]*\) executions.*/\1/p' <<<"$line")
	if [ "${execs:-0}" -gt 0 ] && [[ "$line" == *", 0 findings" ]]; then
		t_pass "$1"
	else
		t_fail "$1" "${line:-no output}$(awk -v t="fuzz_$1: " 'index($0, t) == 1 { on = 1; next }
			on && /^    / { printf " |%s", substr($0, 4); next } { on = 0 }' <<<"$out")"
	fi
}
for f in tests/fuzz/fuzz_*.c; do
	n=${f##*/fuzz_}
	check "${n%.c}"
done
[ "$T_FAILED" -eq 0 ] && rm -rf "$work" # kept on a failure: the logs and the inputs found
t_done
