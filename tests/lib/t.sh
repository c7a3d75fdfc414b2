# t.sh — shell test helpers; same output as tests/nbtest.h:
# "PASS suite:name" / "FAIL suite:name" + "  at file:line: why".
# Source it from a test script; NB (the neonblue binary) is set by tests/run.sh.
T_SUITE=${T_SUITE:-$(basename "${BASH_SOURCE[1]:-$0}" .sh)}
T_PASSED=0
T_FAILED=0
NB=${NB:-build/asan/neonblue}

t_pass() { echo "PASS $T_SUITE:$1"; T_PASSED=$((T_PASSED + 1)); }
t_fail() {
	local name=$1; shift
	echo "FAIL $T_SUITE:$name"
	echo "  at ${BASH_SOURCE[2]:-${BASH_SOURCE[1]}}:${BASH_LINENO[1]:-${BASH_LINENO[0]}}: $*"
	T_FAILED=$((T_FAILED + 1))
}
# t_eq NAME ACTUAL EXPECTED
t_eq() {
	if [ "$2" == "$3" ]; then t_pass "$1"; else t_fail "$1" "got '$2', expected '$3'"; fi
}
# t_match NAME TEXT REGEX
t_match() {
	if [[ "$2" =~ $3 ]]; then t_pass "$1"; else t_fail "$1" "'${2:0:400}' does not match /$3/"; fi
}
# t_run NAME EXPECTED_STATUS CMD... — runs CMD, keeps stdout in $T_OUT and stderr in $T_ERR
t_run() {
	local name=$1 want=$2; shift 2
	local o e
	o=$(mktemp); e=$(mktemp)
	"$@" >"$o" 2>"$e"
	local rc=$?
	T_OUT=$(cat "$o"); T_ERR=$(cat "$e"); T_RC=$rc
	rm -f "$o" "$e"
	if [ "$rc" == "$want" ]; then t_pass "$name"; else
		t_fail "$name" "exit $rc, expected $want: $* — stderr: ${T_ERR:0:400}"; fi
}
t_done() {
	echo "$T_SUITE: $T_PASSED passed, $T_FAILED failed"
	[ "$T_FAILED" -eq 0 ]
}
# Picks a free TCP port on 127.0.0.1.
t_free_port() {
	python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'
}
