#!/usr/bin/env bash
# bench_assign_pg.sh — persisted assignments/s for 100,000 new users with
# `neonblue assign EXP --users FILE` (decide + batched INSERT … ON CONFLICT +
# read back) against a plain multi-row INSERT of the same 100,000 rows through
# psql (1,000 rows per statement), on a temporary embedded stack.
set -eu
cd "$(dirname "$0")/.."
NB=${NB:-$PWD/build/neonblue}
USERS=${1:-100000}
tmp=$(mktemp -d /tmp/nbbench-assign.XXXXXX)
home=$tmp/home
cleanup() { "$NB" stack down --home "$home" >/dev/null 2>&1 || true; rm -rf "$tmp"; }
trap cleanup EXIT
"$NB" stack up --home "$home" >/dev/null
. "$home/stack.env"
export NEONBLUE_HOME=$home
sql() { psql "$NEONBLUE_PG" -X -Atqc "$1"; }
"$NB" exp create --key bench --name Bench --variants control:50,treatment:50 >/dev/null
"$NB" exp start bench >/dev/null
"$NB" exp create --key base --name Baseline --variants control:50,treatment:50 >/dev/null

python3 - "$tmp" "$USERS" <<'PY'
import sys
d, n = sys.argv[1], int(sys.argv[2])
with open(f"{d}/users", "w") as f:
    for i in range(n):
        f.write(f"user-{i:07d}\n")
with open(f"{d}/insert.sql", "w") as f:
    for s in range(0, n, 1000):
        rows = ",".join(f"('base','user-{i:07d}','{('control','treatment')[i % 2]}','hash',1,NULL)"
                        for i in range(s, min(n, s + 1000)))
        f.write("INSERT INTO assignments (experiment, user_id, variant, source, experiment_version, context) VALUES " + rows + ";\n")
PY

now() { date +%s.%N; }
t0=$(now)
"$NB" assign bench --users "$tmp/users" >"$tmp/out"
t1=$(now)
psql "$NEONBLUE_PG" -X -q -f "$tmp/insert.sql"
t2=$(now)
[ "$(sql "SELECT count(*) FROM assignments WHERE experiment = 'bench'")" = "$USERS" ] || { echo "wrong count"; exit 1; }
[ "$(wc -l <"$tmp/out")" = "$USERS" ] || { echo "wrong output"; exit 1; }
r_nb=$(python3 -c "print(round($USERS / ($t1 - $t0)))")
r_ins=$(python3 -c "print(round($USERS / ($t2 - $t1)))")
echo "persisted assignments: $r_nb/s (neonblue assign --users, $USERS new users, batches of 1000, JSON out); plain multi-row INSERT via psql: $r_ins rows/s; ratio $(python3 -c "print(f'{$r_nb / $r_ins:.2f}')")"
# second pass: every user already stored (sticky read path)
t3=$(now)
"$NB" assign bench --users "$tmp/users" >/dev/null
t4=$(now)
echo "re-assign of the same $USERS users (all stored): $(python3 -c "print(round($USERS / ($t4 - $t3)))")/s"
