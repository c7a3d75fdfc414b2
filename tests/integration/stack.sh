#!/usr/bin/env bash
# stack.sh — `neonblue stack up|status|down` on a temporary home of its own:
# endpoints answer, idempotent up, JSON shape, restarts after kill -9, stale
# pid files, ports already taken, data kept across down/up.
. "$(dirname "$0")/../lib/t.sh"

root=$(mktemp -d /tmp/nbtest.XXXXXX) # 0700, like the runner's: the stack must cope
H=$root/stack
cleanup() {
	"$NB" stack down --home "$H" >/dev/null 2>&1
	rm -rf "$root"
}
trap cleanup EXIT

envval() { # envval KEY — a value from $H/stack.env, as a shell would read it
	(set -a; . "$H/stack.env"; eval "printf '%s' \"\$$1\"")
}
json_get() { # json_get NAME FIELD — a field of one component in status --json
	"$NB" stack status --home "$H" --json |
		python3 -c 'import json,sys; d={c["name"]:c for c in json.load(sys.stdin)}; print(d[sys.argv[1]][sys.argv[2]])' "$1" "$2"
}
hold_port() { # hold_port PORT — listen on it for 30 s (run in the background)
	python3 -c 'import socket,sys,time
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1",int(sys.argv[1]))); s.listen(1); time.sleep(30)' "$1"
}
wait_healthy() { # wait_healthy SECONDS — until status exits 0
	local end=$((SECONDS + $1))
	while [ $SECONDS -lt $end ]; do
		"$NB" stack status --home "$H" >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	return 1
}

# ---- a port already taken is refused with a sentence naming it ----
busy_port=$(t_free_port)
hold_port "$busy_port" &
holder=$!
for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$busy_port) 2>/dev/null && break; sleep 0.1; done
t_run taken-port-refused 2 "$NB" stack up --home "$H" --pg-port "$busy_port"
t_match taken-port-message "$T_ERR" "port $busy_port for PostgreSQL \(--pg-port\) is already in use"
kill "$holder" 2>/dev/null; wait "$holder" 2>/dev/null

t_run bad-home-refused 2 "$NB" stack up --home "$root/a'b"
t_match bad-home-says "$T_ERR" "contains '''; choose a path without quotes"
t_run status-before-up 1 "$NB" stack status --home "$H"
t_match status-before-up-says "$T_OUT" "supervisor +not running"

for round in 1 2; do
	start=$(date +%s.%N)
	t_run "up-$round" 0 "$NB" stack up --home "$H"
	secs=$(python3 -c "print(round($(date +%s.%N) - $start, 1))")
	echo "# round $round: stack up took $secs s"
	t_match "up-$round-fast" "$secs" '^([0-9]|[1-5][0-9])\.' # < 60 s: a hang guard, not a speed test (load decides the rest)
	t_match "up-$round-lists" "$T_OUT" "postgresql +healthy"

	# stack.env has the three variables, and each endpoint answers
	pg=$(envval NEONBLUE_PG); kafka=$(envval NEONBLUE_KAFKA); ch=$(envval NEONBLUE_CLICKHOUSE)
	t_match "env-pg-$round" "$pg" '^host=127\.0\.0\.1 port=[0-9]+ user=neonblue dbname=neonblue$'
	t_match "env-kafka-$round" "$kafka" '^127\.0\.0\.1:[0-9]+$'
	t_match "env-clickhouse-$round" "$ch" '^http://127\.0\.0\.1:[0-9]+$'
	t_eq "pg-answers-$round" "$(psql "$pg" -XAtc 'select current_user || current_database()' 2>&1)" \
		"neonblueneonblue"
	t_eq "pg-logical-$round" "$(psql "$pg" -XAtc 'show wal_level' 2>&1)" "logical"
	t_eq "clickhouse-answers-$round" "$(curl -s --max-time 5 "$ch/?query=SELECT%2040%2B2")" "42"
	t_eq "clickhouse-db-$round" \
		"$(curl -s --max-time 5 -G "$ch/" \
			--data-urlencode "query=SELECT count() FROM system.databases WHERE name = 'neonblue'")" "1"
	t_match "kafka-answers-$round" "$(kcat -L -b "$kafka" -m 5 2>&1)" "1 brokers:"
	# every `neonblue` command finds the stack through the home
	t_match "config-reads-env-$round" "$(NEONBLUE_HOME=$H "$NB" migrate 2>&1; echo "rc=$?")" "rc=0"

	if [ $round = 1 ]; then
		psql "$pg" -XqAtc 'create table stack_keep(x int); insert into stack_keep values (7)'
	else
		t_eq data-kept "$(psql "$pg" -XAtc 'select x from stack_keep' 2>&1)" "7"
	fi

	# a second up reports the running stack and changes nothing
	sup=$(cat "$H/run/supervisor.pid")
	t_run "second-up-$round" 0 "$NB" stack up --home "$H"
	t_match "second-up-says-$round" "$T_OUT" "already runs"
	t_eq "second-up-same-supervisor-$round" "$(cat "$H/run/supervisor.pid")" "$sup"
	t_eq "second-up-same-env-$round" "$(envval NEONBLUE_PG)" "$pg"

	t_run "status-$round" 0 "$NB" stack status --home "$H"
	t_run "down-$round" 0 "$NB" stack down --home "$H"
	t_match "down-says-$round" "$T_OUT" "stack down"
	t_eq "down-no-supervisor-$round" "$(test -e "$H/run/supervisor.pid" && echo left || echo gone)" gone
	t_eq "down-pg-stopped-$round" "$(psql "$pg" -XAtc 'select 1' >/dev/null 2>&1 && echo up || echo down)" down
	t_run "status-after-down-$round" 1 "$NB" stack status --home "$H"
done
t_run down-again 0 "$NB" stack down --home "$H"
t_match down-again-says "$T_OUT" "no stack runs"

# ---- status --json: a list of components with name, pid, endpoint, healthy ----
"$NB" stack up --home "$H" >/dev/null 2>&1
t_run status-json 0 "$NB" stack status --home "$H" --json
shape=$(printf '%s' "$T_OUT" | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert isinstance(d, list), "not a list"
names = [c["name"] for c in d]
for c in d:
    assert isinstance(c["pid"], int) and c["pid"] > 0, c
    assert isinstance(c["endpoint"], str), c
    assert c["healthy"] is True, c
    assert isinstance(c["restarts"], int), c
print(",".join(names[:4]))' 2>&1)
t_eq status-json-shape "$shape" "supervisor,kafka,postgresql,clickhouse"

# ---- a killed PostgreSQL is restarted by the supervisor, same port ----
pg=$(envval NEONBLUE_PG)
old=$(json_get postgresql pid)
kill -9 "$old"
sleep 0.3
wait_healthy 30
t_run pg-restarted-status 0 "$NB" stack status --home "$H"
new=$(json_get postgresql pid)
t_match pg-restarted-new-pid "$new" "^[0-9]+$"
[ "$new" != "$old" ] && t_pass pg-restarted-other-pid || t_fail pg-restarted-other-pid "pid still $old"
t_eq pg-restarts-counted "$(json_get postgresql restarts)" 1
t_eq pg-restarted-answers "$(psql "$pg" -XAtc 'select x from stack_keep' 2>&1)" 7
t_match pg-restart-logged "$(cat "$H/logs/supervisor.log")" "postgresql \(pid $old\) was killed by signal 9"

# ---- a killed Kafka comes back on the same address ----
kafka=$(envval NEONBLUE_KAFKA)
kill -9 "$(json_get kafka pid)"
sleep 0.3
wait_healthy 30
t_match kafka-restarted-same-port "$(kcat -L -b "$kafka" -m 5 2>&1)" "broker 1 at $kafka"
t_eq kafka-restarts-counted "$(json_get kafka restarts)" 1
# killed again once it answered: back at once, no growing backoff
sleep 1.2 # one health check sees it answer
kill -9 "$(json_get kafka pid)"
start=$SECONDS
sleep 0.3
wait_healthy 30
t_match kafka-second-restart-quick "$((SECONDS - start))" '^[0-9]$' # < 10 s: back without waiting out a long backoff
t_eq kafka-restarts-counted-again "$(json_get kafka restarts)" 2

# ---- a dead supervisor: stale pid file, orphans stopped, up starts afresh ----
sup=$(cat "$H/run/supervisor.pid")
kill -9 "$sup"
sleep 0.5 # the servers get their parent-death signal
t_run status-dead-supervisor 1 "$NB" stack status --home "$H"
t_run up-after-dead-supervisor 0 "$NB" stack up --home "$H"
t_match stale-pid-reported "$T_ERR" "stale pid file \(supervisor $sup is gone\)"
t_eq data-kept-after-crash "$(psql "$pg" -XAtc 'select x from stack_keep' 2>&1)" 7
"$NB" stack down --home "$H" >/dev/null 2>&1
echo 999999 >"$H/run/supervisor.pid"
t_run up-with-stale-pid 0 "$NB" stack up --home "$H"
t_match up-with-stale-pid-says "$T_ERR" "stale pid file \(supervisor 999999 is gone\)"

# ---- a killed ClickHouse is restarted too ----
ch=$(envval NEONBLUE_CLICKHOUSE)
kill -9 "$(json_get clickhouse pid)"
sleep 0.3
wait_healthy 60
t_eq clickhouse-restarted "$(curl -s --max-time 5 "$ch/?query=SELECT%201")" 1
t_eq clickhouse-restarts-counted "$(json_get clickhouse restarts)" 1
"$NB" stack down --home "$H" >/dev/null 2>&1

# ---- a recorded port taken meanwhile: up moves to a free one and says so ----
old_pg=$(envval NEONBLUE_PG); old_port=${old_pg#*port=}; old_port=${old_port%% *}
hold_port "$old_port" &
holder=$!
for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$old_port) 2>/dev/null && break; sleep 0.1; done
t_run up-port-moved 0 "$NB" stack up --home "$H"
t_match up-port-moved-says "$T_ERR" "port $old_port recorded for PostgreSQL is taken by another program; PostgreSQL now uses port [0-9]+"
new_pg=$(envval NEONBLUE_PG)
[ "$new_pg" != "$old_pg" ] && t_pass env-follows-port || t_fail env-follows-port "stack.env still says $new_pg"
t_eq pg-on-new-port "$(psql "$new_pg" -XAtc 'select x from stack_keep' 2>&1)" 7
kill "$holder" 2>/dev/null; wait "$holder" 2>/dev/null
"$NB" stack down --home "$H" >/dev/null 2>&1

# ---- a server that cannot start fails `up` quickly, names its log, leaves nothing ----
start=$SECONDS
t_run up-broken-server 1 env NEONBLUE_PG_BINDIR=/nonexistent "$NB" stack up --home "$H"
t_match up-broken-server-says "$T_ERR" "postgresql keeps dying .*logs/postgresql\.log.*exec failed: /nonexistent/postgres"
t_match up-broken-server-quick "$((SECONDS - start))" '^([0-9]|1[0-9])$'
t_eq up-broken-server-cleaned "$(pgrep -f -- "$H" | wc -l)" 0

# ---- two concurrent ups: one stack, both succeed ----
"$NB" stack up --home "$H" >"$root/up1" 2>&1 & a=$!
"$NB" stack up --home "$H" >"$root/up2" 2>&1 & b=$!
wait $a; ra=$?; wait $b; rb=$?
t_eq concurrent-ups-succeed "$ra$rb" 00
t_match concurrent-ups-one-stack "$(cat "$root/up1" "$root/up2")" "already runs"
t_eq concurrent-ups-one-supervisor "$(pgrep -f -- "stack supervise --home $H\$" | wc -l)" 1
t_run final-down 0 "$NB" stack down --home "$H"

# ---- as a normal user: no user switch, everything runs as that user ----
if [ "$(id -u)" = 0 ] && id nobody >/dev/null 2>&1 && command -v runuser >/dev/null; then
	U=$root/user
	mkdir -p "$U" && chown nobody "$U"
	UNB=$NB # the checkout may sit where nobody cannot reach: then a copy
	runuser -u nobody -- test -x "$NB" || { cp "$NB" "$U/neonblue" && chmod 755 "$U/neonblue" && UNB=$U/neonblue; }
	t_run user-up 0 runuser -u nobody -- env HOME="$U" "$UNB" stack up --home "$U/s"
	[ "$T_RC" = 0 ] || echo "$T_ERR"
	owners=$(ps -o user= -p "$(cat "$U/s/run/supervisor.pid" 2>/dev/null || echo 1)" \
		--ppid "$(cat "$U/s/run/supervisor.pid" 2>/dev/null || echo 1)" | sort -u | tr '\n' ' ')
	t_eq user-owns-everything "$owners" "nobody "
	t_eq user-pg-answers "$(psql "$(H=$U/s envval NEONBLUE_PG)" -XAtc 'select 1' 2>&1)" 1
	t_run user-down 0 runuser -u nobody -- "$UNB" stack down --home "$U/s"
else
	echo "# not root: the normal-user case is what every other check ran"
fi

left=$(pgrep -f -- "$H" | wc -l)
t_eq nothing-left-running "$left" 0
# the supervisor and the Kafka host are this (sanitizer) build: no reports
san=$(grep -lE 'AddressSanitizer|LeakSanitizer|runtime error' "$H"/logs/*.log 2>/dev/null)
t_eq no-sanitizer-reports "$san" ""

t_done
