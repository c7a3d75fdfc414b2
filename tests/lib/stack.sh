# stack.sh — helpers for suites that run their own embedded stack in $H.
# stack_jget NAME FIELD: a field of one component in `stack status --json`
#   ("null" when missing; lists and objects as JSON).
# stack_restarted NAME OLD_PID SECONDS: waits until NAME runs with another pid
#   than OLD_PID and is healthy; status 0 when it did in time.
# wait_value WANT SECONDS CMD…: runs CMD every second until its output is WANT
#   or SECONDS passed; prints the last output.
stack_jget() {
	"$NB" stack status --home "$H" --json 2>/dev/null |
		python3 -c 'import json,sys
d={c["name"]:c for c in json.load(sys.stdin)}
v=d.get(sys.argv[1],{}).get(sys.argv[2])
print("null" if v is None else (json.dumps(v) if isinstance(v,(list,dict)) else v))' "$1" "$2" 2>/dev/null
}
stack_restarted() {
	local end=$((SECONDS + $3)) p h
	while [ $SECONDS -lt $end ]; do
		read -r p h < <("$NB" stack status --home "$H" --json 2>/dev/null | python3 -c 'import json,sys
d={c["name"]:c for c in json.load(sys.stdin)}
print(d[sys.argv[1]]["pid"], d[sys.argv[1]]["healthy"])' "$1" 2>/dev/null)
		[ -n "$p" ] && [ "$p" != None ] && [ "$p" != "$2" ] && [ "$h" = True ] && return 0
		sleep 0.3
	done
	return 1
}
wait_value() {
	local want=$1 end=$((SECONDS + $2)) got=
	shift 2
	while :; do
		got=$("$@")
		[ "$got" = "$want" ] || [ $SECONDS -ge $end ] && break
		sleep 1
	done
	echo "$got"
}
