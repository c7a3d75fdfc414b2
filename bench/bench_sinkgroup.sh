#!/usr/bin/env bash
# bench_sinkgroup.sh — a group of `neonblue sink` processes sharing a
# 4-partition topic (issue 14): the rows/s of 1, 2 and 4 sinks, each as a
# ratio to 1 sink measured in the same run, on the same ClickHouse and Kafka.
#
# The same N events are produced once (lz4) into `neonblue.public.events`
# with 4 partitions on a mock Kafka (tests/lib/mock_kafka.py, one broker).
# Each configuration gets a fresh ClickHouse database `neonblue` (dropped and
# made again with the production schema) and a consumer group of its own, so
# it reads every event from offset 0. Its sinks start together while the
# topic's partitions have no leader (tests/lib/mock_kafka.py: they join the
# group but cannot fetch); once every sink holds a partition (their status
# files) the leaders come back and the clock starts, so neither the group join
# nor a rebalance of sinks joining one by one is timed. It stops at the exact
# count N in ClickHouse (uniqExact(event_id) = N).
# No ratio goal (the issue sets none): exit 1 only when a configuration lost
# or duplicated events (FINAL count or distinct event ids ≠ N).
# Usage: bench/bench_sinkgroup.sh [N]   (default 150000, at most ~170000: the mock keeps ~5 MiB a partition; env SINKGROUP_CONFIGS="1 2 4")
set -u
cd "$(dirname "$0")/.."
NB=${NB:-$PWD/build/neonblue}
N=${1:-${BENCH_SINKGROUP_ROWS:-150000}}
CONFIGS=${SINKGROUP_CONFIGS:-1 2 4}
W=$(mktemp -d /tmp/bench_sinkgroup.XXXXXX)
chmod 755 "$W"
source "$PWD/bench/lib/sink_events.sh" # free_port, now, sink_events
source "$PWD/tests/lib/ch.sh"          # ch_start, ch_schema
CH_HTTP=$(free_port)
CH_TCP=$(free_port)
CH="http://127.0.0.1:$CH_HTTP"
TOPIC=neonblue.public.events
MOCK_PID=
SINK_PIDS=()
stop_sinks() {
	local p
	for p in "${SINK_PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${SINK_PIDS[@]}"; do wait "$p" 2>/dev/null; done
	SINK_PIDS=()
}
cleanup() {
	stop_sinks
	[ -n "$MOCK_PID" ] && kill "$MOCK_PID" 2>/dev/null && wait "$MOCK_PID" 2>/dev/null
	ch_stop
	[ -n "${BENCH_KEEP:-}" ] && echo "kept $W" || rm -rf "$W"
}
trap cleanup EXIT
q() { curl -s "$CH/" --data-binary "$1"; }
num() { case $1 in '' | *[!0-9]*) echo 0 ;; *) echo "$1" ;; esac; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
phase() { [ -z "${BENCH_VERBOSE:-}" ] || echo "[$SECONDS s] $*"; }
# leaders off|on: the topic's partitions lose / get back their leader (the
# mock, tests/lib/mock_kafka.py): the sinks join their group while they
# cannot fetch, so that the clock starts with the group settled
leaders() {
	rm -f "$W/boot.leaders"
	kill -"$([ "$1" = off ] && echo USR1 || echo USR2)" "$MOCK_PID"
	for _ in $(seq 1 100); do [ "$(cat "$W/boot.leaders" 2>/dev/null)" = "$1" ] && return 0; sleep 0.02; done
	echo "bench_sinkgroup: the mock did not turn leaders $1" >&2
	exit 1
}
# assigned S: the S sinks of this configuration together hold the topic's 4
# partitions, each at least one (their status files, written at assignment)
assigned() {
	local f held= k=0
	for f in "$W"/sink"$1".*.status; do
		[ -s "$f" ] || return 1
		local mine
		mine=$(grep -o "\"topic\":\"$TOPIC\",\"partition\":[0-9]*" "$f" | grep -o '[0-9]*$')
		[ -n "$mine" ] || return 1
		held+=" $mine" k=$((k + 1))
	done
	[ "$k" = "$1" ] && [ "$(echo $held | tr ' ' '\n' | sort -u | tr '\n' ' ')" = "0 1 2 3 " ]
}

echo "cores: $(nproc); load average at start: $(loadavg)"
ch_start || { echo "bench_sinkgroup: ClickHouse did not start" >&2; exit 1; }
python3 tests/lib/mock_kafka.py "$W/boot" 4 2>"$W/kafka.log" &
MOCK_PID=$!
for _ in $(seq 1 100); do [ -s "$W/boot" ] && break; sleep 0.1; done
KAFKA=$(cat "$W/boot")

phase "servers up"
sink_events "$W/events.msgs" "$N"
kcat -P -b "$KAFKA" -t "$TOPIC" -K $'\t' -z lz4 -l "$W/events.msgs"
# Every event must still be in Kafka (the mock keeps the last 5 MiB of a
# partition): offsets 0 … end, summed over the 4 partitions, make N.
have=0
for p in 0 1 2 3; do
	first=$(kcat -C -b "$KAFKA" -t "$TOPIC" -p $p -o beginning -c 1 -e -q -f '%o\n' 2>/dev/null)
	last=$(kcat -C -b "$KAFKA" -t "$TOPIC" -p $p -o -1 -c 1 -e -q -f '%o\n' 2>/dev/null)
	[ "$first" = 0 ] || { echo "FAIL bench_sinkgroup: partition $p starts at offset '$first': the mock dropped messages (use fewer than $N)"; exit 1; }
	have=$((have + $(num "$last") + 1))
	echo "partition $p: $(($(num "$last") + 1)) events"
done
[ "$have" = "$N" ] || { echo "FAIL bench_sinkgroup: Kafka holds $have events, $N produced"; exit 1; }

declare -A RATE
status=0
for S in $CONFIGS; do
	q "DROP DATABASE IF EXISTS neonblue" >/dev/null
	phase "$S sink(s): fresh database"
	ch_schema "$CH" neonblue || { echo "bench_sinkgroup: schema failed" >&2; exit 1; }
	leaders off
	for k in $(seq 1 "$S"); do
		"$NB" sink --kafka "$KAFKA" --clickhouse "$CH" --home "$W/home$S.$k" --no-migrate \
			--group "bench-$S" --status "$W/sink$S.$k.status" --verbose 2>"$W/sink$S.$k.log" &
		SINK_PIDS+=($!)
	done
	phase "$S sink(s) started"
	for _ in $(seq 1 1200); do assigned "$S" && break; sleep 0.05; done
	c0=$(num "$(q "SELECT count() FROM neonblue.events")")
	phase "group joined: every sink holds a partition ($c0 rows stored)"
	leaders on
	t0=$(now) got=0
	end=$((SECONDS + 600))
	while [ $SECONDS -lt $end ]; do
		c=$(num "$(q "SELECT count() FROM neonblue.events")")
		if [ "$c" -ge "$N" ]; then # replays after a rebalance count twice here
			got=$(num "$(q "SELECT uniqExact(event_id) FROM neonblue.events")")
			[ "$got" -ge "$N" ] && break
		fi
		sleep 0.05
	done
	t1=$(now)
	phase "exact count reached"
	# per sink: the rows it stored and the partitions it held at the end
	split=
	for k in $(seq 1 "$S"); do
		split+=$(python3 -c 'import json,sys
j=json.load(open(sys.argv[1]))
print(" %d(p%s)" % (j["rows"], ",".join(str(p["partition"]) for p in j["partitions"] if p["topic"]==sys.argv[2])))' \
			"$W/sink$S.$k.status" "$TOPIC" 2>/dev/null || echo " ?")
	done
	stop_sinks
	phase "sinks stopped"
	final=$(num "$(q "SELECT count() FROM neonblue.events FINAL")")
	raw=$(num "$(q "SELECT count() FROM neonblue.events")")
	got=$(num "$(q "SELECT uniqExact(event_id) FROM neonblue.events")")
	if ! assigned "$S" && [ "$S" -le 4 ]; then
		echo "note: $S sinks: the group changed during the run (a rebalance)"
	fi
	if [ "$c0" != 0 ] || [ "$final" != "$N" ] || [ "$got" != "$N" ]; then
		echo "FAIL bench_sinkgroup: $S sinks: ClickHouse holds $final rows (FINAL), $got distinct events, expected $N"
		status=1
		continue
	fi
	RATE[$S]=$(python3 -c "print(int($N / max($t1 - $t0, 1e-3)))")
	echo "$S sink(s): ${RATE[$S]} rows/s ($N events in $(python3 -c "print('%.2f' % ($t1 - $t0))") s; rows per sink:$split; raw rows $raw); load average $(loadavg)"
done

one=${RATE[1]:-}
if [ -n "$one" ]; then
	line="ratio to 1 sink:"
	for S in $CONFIGS; do
		[ -n "${RATE[$S]:-}" ] && line+=" $S→$(python3 -c "print('%.2f' % (${RATE[$S]} / $one))")"
	done
	echo "$line (no goal: $(nproc) cores; 4 partitions)"
fi
echo "load average at end: $(loadavg)"
exit $status
