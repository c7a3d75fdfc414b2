#!/usr/bin/env bash
# dash_group.sh — the health view (8) of a stack with a group of sinks
# (`stack up --partitions 4 --sinks 2`), driven in tmux at 120×40: one line
# per sink with the partitions it holds and its lag, the same figures as
# `stack status --json`; the group's line sums the sinks' rows.

# Not `# needs: stack`: it makes its own stack in a temp home and removes it.
. "$(dirname "$0")/../lib/t.sh"

root=$(mktemp -d "${NB_TEST_TMP:-/tmp}/nbdg.XXXXXX")
H=$root/stack
export NEONBLUE_HOME=$H
unset NEONBLUE_PG NEONBLUE_KAFKA NEONBLUE_CLICKHOUSE NEONBLUE_TOPIC_PREFIX
SOCK=nbdg$$
TM() { tmux -L "$SOCK" -f /dev/null "$@"; }
cleanup() {
	TM kill-server 2>/dev/null
	"$NB" stack down --home "$H" >/dev/null 2>&1
	rm -rf "$root"
}
trap cleanup EXIT

t_run up 0 "$NB" stack up --home "$H" --partitions 4 --sinks 2
for i in $(seq 1 400); do
	printf '{"user_id":"dg-u%d","type":"dg","value":%d}\n' "$i" "$i"
done | "$NB" ingest - >/dev/null

# expect: what the health view must show for each sink, from `stack status
# --json` — "sink  partitions 0,1 (8 topics), lag 0, 200 rows" — once the
# group has shared the partitions and every event is in ClickHouse
expect() {
	"$NB" stack status --json | python3 -c '
import json, sys
d = [c for c in json.load(sys.stdin) if c["name"].startswith("sink") and c.get("pid")]
out, total = [], 0
for c in d:
    by = {}
    for p in c.get("partitions") or []:
        by.setdefault(p["topic"], []).append(str(p["partition"]))
    sets = {",".join(v) for v in by.values()}
    if len(sets) != 1 or c.get("kafka_lag") is None:
        sys.exit(1)
    rows = int(c.get("rows") or 0)
    total += rows
    name, lag = c["name"], int(c["kafka_lag"])
    out.append(f"{name} {sets.pop()} {len(by)} {lag} {rows:,}")
print("\n".join(out)); print(f"group {len(d)} {total:,}")'
}
# settled: both sinks hold partitions, no lag, the 400 events (and their
# other rows) stored
settled() {
	exp=$(expect) && [ "$(grep -c '^sink.* 0 [0-9,]*$' <<<"$exp")" = 2 ] &&
		[ "$(tail -1 <<<"$exp" | awk '{gsub(",", "", $3); print $3 >= 400}')" = 1 ]
}
end=$((SECONDS + 90))
until settled || [ $SECONDS -ge $end ]; do sleep 1; done
t_match group-settled "$(tail -1 <<<"$exp")" "^group 2 [0-9,]+$"
TM new-session -d -s g -x 120 -y 40 \
	"env TERM=xterm-256color NO_COLOR=1 $NB dash --refresh 1 2>$root/dash.err; echo EXITED \$?; sleep 600"
cap() { TM capture-pane -p -t g; }
sleep 2
TM send-keys -t g 8
# each sink's line against the JSON (asked again until both agree: the view
# refreshes every second)
line_ok() { # line_ok NAME PARTS NTOPICS LAG ROWS
	cap | grep -qE "^. $1 +healthy +pid [0-9]+ +restarts [0-9]+ +partitions $2 \($3 topics\), lag $4, $5 rows"
}
for s in sink sink2; do
	ok=0 end=$((SECONDS + 20))
	while [ $SECONDS -lt $end ]; do
		exp=$(expect) || { sleep 0.5; continue; }
		read -r _ parts nt lag rows < <(grep "^$s " <<<"$exp")
		if line_ok "$s" "$parts" "$nt" "$lag" "$rows"; then ok=1; break; fi
		sleep 0.5
	done
	if [ $ok = 1 ]; then t_pass "$s-partitions-and-lag"; else
		t_fail "$s-partitions-and-lag" "want '$s partitions $parts ($nt topics), lag $lag, $rows rows': $(cap)"
	fi
done
# the two sinks hold different partitions of the 4
p1=$(cap | grep -oE "^. sink +.*partitions [0-9,]+" | grep -oE "[0-9,]+$")
p2=$(cap | grep -oE "^. sink2 +.*partitions [0-9,]+" | grep -oE "[0-9,]+$")
t_eq partitions-split "$(tr , '\n' <<<"$p1,$p2" | sort -n | tr '\n' ' ')" "0 1 2 3 "
total=$(expect | tail -1 | awk '{print $3}')
# the relay's heartbeat (every 5 s when idle) is lag 1 until a sink reads it:
# the view refreshes every second, so wait for a screen with the lag back at 0
end=$((SECONDS + 20))
until cap | head -1 | grep -q "lag ● 0 " && cap | grep -q "consumer lag 0," || [ $SECONDS -ge $end ]; do sleep 0.5; done
t_match group-line "$(cap)" "Sink group +2 sinks: $total rows into ClickHouse, consumer lag 0, DLQ 0"
t_match header-lag "$(cap | head -1)" "lag ● 0 "
TM send-keys -t g q # back to the home view, then quit
sleep 1
TM send-keys -t g q
sleep 1
t_match quits "$(cap)" "EXITED 0"
t_eq no-sanitizer-reports "$(grep -l Sanitizer "$root/dash.err" 2>/dev/null)" ""
t_done
