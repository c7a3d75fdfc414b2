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
for r in 1 2 3; do
	"$NB" exp create --key "bench$r" --name Bench --variants control:50,treatment:50 >/dev/null
	"$NB" exp start "bench$r" >/dev/null
	"$NB" exp create --key "base$r" --name Baseline --variants control:50,treatment:50 >/dev/null
done

python3 - "$tmp" "$USERS" <<'PY'
import sys
d, n = sys.argv[1], int(sys.argv[2])
with open(f"{d}/users", "w") as f:
    for i in range(n):
        f.write(f"user-{i:07d}\n")
for r in (1, 2, 3):
    with open(f"{d}/insert{r}.sql", "w") as f:
        for s in range(0, n, 1000):
            rows = ",".join(f"('base{r}','user-{i:07d}','{('control','treatment')[i % 2]}','hash',1,NULL)"
                            for i in range(s, min(n, s + 1000)))
            f.write("INSERT INTO assignments (experiment, user_id, variant, source, experiment_version, context) VALUES " + rows + ";\n")
PY

now() { date +%s.%N; }
best_nb=0 best_ins=0
for r in 1 2 3; do
	t0=$(now)
	"$NB" assign "bench$r" --users "$tmp/users" >"$tmp/out"
	t1=$(now)
	psql "$NEONBLUE_PG" -X -q -f "$tmp/insert$r.sql"
	t2=$(now)
	[ "$(sql "SELECT count(*) FROM assignments WHERE experiment = 'bench$r'")" = "$USERS" ] || { echo "wrong count"; exit 1; }
	[ "$(wc -l <"$tmp/out")" = "$USERS" ] || { echo "wrong output"; exit 1; }
	r_nb=$(python3 -c "print(round($USERS / ($t1 - $t0)))")
	r_ins=$(python3 -c "print(round($USERS / ($t2 - $t1)))")
	echo "round $r: neonblue assign --users $r_nb/s, multi-row INSERT $r_ins rows/s"
	[ "$r_nb" -gt "$best_nb" ] && best_nb=$r_nb
	[ "$r_ins" -gt "$best_ins" ] && best_ins=$r_ins
done
echo "persisted assignments: $best_nb/s (neonblue assign --users: decide, INSERT … ON CONFLICT + read back in one statement per 1000 users, JSON out; $USERS new users); plain multi-row INSERT via psql (1000 rows per statement): $best_ins rows/s; ratio $(python3 -c "print(f'{$best_nb / $best_ins:.2f}')") — best of 3"
# every user already stored (the sticky read path)
t3=$(now)
"$NB" assign bench1 --users "$tmp/users" >/dev/null
t4=$(now)
echo "re-assign of the same $USERS users (all stored): $(python3 -c "print(round($USERS / ($t4 - $t3)))")/s"
