# sse.sh — helpers of the suites that read /sub streams through
# tests/integration/serve_sse_client.py (serve_sse.sh, serve_flags.sh): the
# client's log lines (EVENT n=... t=...), the latency from a commit to an
# event, and its under-a-second check. Needs sql() (psql on NEONBLUE_PG) and
# t.sh; client() appends the client's pid to cpids for the suite's cleanup.
client() { python3 "$NB_ROOT/tests/integration/serve_sse_client.py" "$@" & cpids+=($!); }
# waits (up to $2 s) for the Nth EVENT line in log $3; prints nothing
wait_event() {
	local i c
	for i in $(seq $(($2 * 20))); do
		c=$(grep -c '^EVENT ' "$3" 2>/dev/null)
		[ "${c:-0}" -ge "$1" ] && return 0
		sleep 0.05
	done
	return 1
}
ev() { grep "^EVENT n=$1 " "$2"; }
# seconds from the PostgreSQL time $1 (epoch) to the arrival of event $2 in log $3
lag() { awk -v t0="$1" '{ sub(/^t=/, "", $3); printf "%.3f\n", $3 - t0 }' < <(ev "$2" "$3"); }
audit_at() { sql "SELECT extract(epoch FROM at) FROM audit_log WHERE entity = '$1' AND key = '$2' AND action = '$3' ORDER BY id DESC LIMIT 1"; }
under_1s() {
	echo "  measured $1: ${2:-?} s (commit → event on the stream)"
	awk -v x="$2" 'BEGIN { exit !(x != "" && x >= 0 && x < 1) }' && t_pass "$1" || t_fail "$1" "latency '$2' s, expected < 1 s"
}
