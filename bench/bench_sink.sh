#!/usr/bin/env bash
# bench_sink.sh — `neonblue sink` rows/s (Kafka → ClickHouse) against
# clickhouse-client inserting the same rows as TSV, in the same run, on the
# same ClickHouse. Target: sink ≥ 0.5 × clickhouse-client.
# Usage: bench/bench_sink.sh [ROWS]   (default 300000)
set -u
cd "$(dirname "$0")/.."
NB=${NB:-$PWD/build/neonblue}
N=${1:-${BENCH_SINK_ROWS:-300000}}
W=$(mktemp -d /tmp/bench_sink.XXXXXX)
chmod 755 "$W"
source "$PWD/bench/lib/sink_events.sh" # free_port, now, sink_events
CH_HTTP=$(free_port)
CH_TCP=$(free_port)
CH="http://127.0.0.1:$CH_HTTP"
MOCK_PID= SINK_PID=
source "$PWD/tests/lib/ch.sh" # as_ch, ch_start, ch_schema
cleanup() {
	[ -n "$SINK_PID" ] && kill "$SINK_PID" 2>/dev/null && wait "$SINK_PID" 2>/dev/null
	[ -n "$MOCK_PID" ] && kill "$MOCK_PID" 2>/dev/null
	local p
	p=$(cat "$W/ch/ch.pid" 2>/dev/null) && kill "$p" 2>/dev/null &&
		for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
	rm -rf "$W"
}
trap cleanup EXIT
q() { curl -s "$CH/" --data-binary "$1"; }

# ClickHouse
ch_start || { echo "bench_sink: ClickHouse did not start" >&2; exit 1; }

# A mock Kafka with enough partitions to hold every message (5 MiB each).
parts=$(((N * 500 / 4194304) + 4))
python3 tests/lib/mock_kafka.py "$W/boot" "$parts" 2>/dev/null &
MOCK_PID=$!
for _ in $(seq 1 50); do [ -s "$W/boot" ] && break; sleep 0.1; done
KAFKA=$(cat "$W/boot")

# N relay-style event envelopes
sink_events "$W/events.msgs" "$N"
kcat -P -b "$KAFKA" -t neonblue.public.events -K $'\t' -z lz4 -l "$W/events.msgs"
"$NB" sink --kafka "$KAFKA" --clickhouse "$CH" --home "$W/home" --status "$W/sink.status" \
	--batch-rows 100000 --batch-ms 500 --verbose 2>"$W/sink.log" &
SINK_PID=$!
# Sink rate: from the first rows in ClickHouse to the last (group join excluded).
t0= c0=0
end=$((SECONDS + 600))
while [ $SECONDS -lt $end ]; do
	c=$(q "SELECT count() FROM neonblue.events")
	case $c in '' | *[!0-9]*) c=0 ;; esac # the sink has not created the table yet
	if [ -z "$t0" ] && [ "${c:-0}" -gt 0 ]; then t0=$(now); c0=$c; fi
	[ "${c:-0}" -ge "$N" ] && break
	sleep 0.05
done
t1=$(now)
kill "$SINK_PID"; wait "$SINK_PID"; SINK_PID=
got=$(q "SELECT count() FROM neonblue.events")
if [ "$got" != "$N" ] || [ -z "$t0" ]; then
	echo "FAIL bench_sink: ClickHouse holds $got rows, expected $N"
	exit 1
fi
sink_rate=$(python3 -c "print(int(($N - $c0) / max($t1 - $t0, 1e-3)))")

# Baseline: the same rows as TSV through clickhouse-client, into the events
# table of a twin database with the same schema (its materialized views too).
q "SELECT * FROM neonblue.events FORMAT TabSeparated" >"$W/rows.tsv"
ch_schema "$CH" twin
b0=$(now)
clickhouse-client --host 127.0.0.1 --port "$CH_TCP" \
	--query "INSERT INTO twin.events FORMAT TabSeparated" <"$W/rows.tsv"
b1=$(now)
base=$(q "SELECT count() FROM twin.events")
[ -n "${BENCH_VERBOSE:-}" ] && echo "twin: $(q "SELECT count() FROM twin.events_by_user") rows by user, $(q "SELECT count() FROM twin.touched") touched; sink: $(q "SELECT count() FROM neonblue.events_by_user") by user"
[ "$base" = "$N" ] || { echo "FAIL bench_sink: baseline inserted $base rows"; exit 1; }
base_rate=$(python3 -c "print(int($N / ($b1 - $b0)))")
[ -n "${BENCH_VERBOSE:-}" ] && cat "$W/sink.log"
ratio=$(python3 -c "print('%.2f' % ($sink_rate / $base_rate))")
echo "sink: $N rows, $sink_rate rows/s (Kafka → ClickHouse, batches of 100000)"
echo "clickhouse-client TSV insert of the same rows: $base_rate rows/s"
echo "ratio sink / clickhouse-client: $ratio (target >= 0.5)"
python3 -c "import sys; sys.exit(0 if $ratio >= 0.5 else 1)" || { echo "FAIL bench_sink: ratio $ratio < 0.5"; exit 1; }
