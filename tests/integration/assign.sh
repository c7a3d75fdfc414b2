#!/usr/bin/env bash
# assign.sh — `neonblue assign` against the embedded stack: sticky decisions,
# hash agreement with an independent GrowthBook v2 hash, 8-way concurrency,
# bulk, targeting, refusals.
# needs: stack
. "$(dirname "$0")/../lib/t.sh"
: "${NEONBLUE_HOME:?needs a running stack (tests/run.sh starts one)}"
. "$NEONBLUE_HOME/stack.env"
export NEONBLUE_PG
sql() { psql "$NEONBLUE_PG" -X -Atqc "$1"; }
tmp=$(mktemp -d /tmp/nbassign.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
run=$$
E=asg-sticky-$run

t_run create 0 "$NB" exp create --key "$E" --name Sticky --variants control:50,treatment:50
t_run start 0 "$NB" exp start "$E"

# --- first call stores, second returns the stored row --------------------
t_run first-call 0 "$NB" assign "$E" alice --json
first=$T_OUT
t_match first-is-new "$first" '"in_experiment":true,"variant":"(control|treatment)","reason":"assigned by hash","source":"hash","assigned_at":"[0-9]{4}-[0-9]{2}-[0-9]{2}T[^"]+Z","new":true'
v1=$(sed -E 's/.*"variant":"([a-z]+)".*/\1/' <<<"$first")
t_run second-call 0 "$NB" assign "$E" alice --json
t_match second-is-stored "$T_OUT" "\"variant\":\"$v1\",\"reason\":\"stored assignment\".*\"new\":false"
t_eq one-row "$(sql "SELECT count(*) FROM assignments WHERE experiment = '$E' AND user_id = 'alice'")" 1

# --- the stored variant is the GrowthBook v2 hash (computed here in Python) ---
expected_variant() { # seed user → control|treatment for a 50/50 split
	python3 - "$1" "$2" <<'EOF'
import sys
def fnv(s):
    h = 0x811c9dc5
    for ch in s.encode('utf-16-le').decode('utf-16-le'):
        for unit in [ord(ch)] if ord(ch) < 0x10000 else [0xd800 + ((ord(ch) - 0x10000) >> 10), 0xdc00 + ((ord(ch) - 0x10000) & 0x3ff)]:
            h = ((h ^ unit) * 16777619) & 0xffffffff
    return h
seed, user = sys.argv[1], sys.argv[2]
n = (fnv(str(fnv(seed + user))) % 10000) / 10000
print('control' if n < 0.5 else 'treatment')
EOF
}
seed=$(sql "SELECT seed FROM experiments WHERE key = '$E'")
agree=0
for u in alice bob carol dave erin frank grace heidi ivan judy; do
	got=$("$NB" assign "$E" "$u" --json | sed -E 's/.*"variant":"([a-z]+)".*/\1/')
	[ "$got" = "$(expected_variant "$seed" "$u")" ] && agree=$((agree + 1))
done
t_eq hash-matches-independent-growthbook-v2 "$agree" 10

# --- sticky across a reseed with new weights ------------------------------
t_run reseed 0 "$NB" exp edit "$E" --variants control:1,treatment:99 --reseed
t_run after-reseed 0 "$NB" assign "$E" alice --json
t_match sticky-after-reseed "$T_OUT" "\"variant\":\"$v1\",\"reason\":\"stored assignment\".*\"new\":false"

# --- 8 concurrent processes on the same 300 users --------------------------
C=asg-conc-$run
"$NB" exp create --key "$C" --name Conc --variants a:20,b:30,c:50 >/dev/null
"$NB" exp start "$C" >/dev/null
for i in $(seq 1 300); do echo "user-$i"; done >"$tmp/users"
pids=()
for p in 1 2 3 4 5 6 7 8; do
	"$NB" assign "$C" --users "$tmp/users" >"$tmp/out.$p" 2>"$tmp/err.$p" &
	pids+=($!)
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
t_eq concurrent-all-exit-0 "$status" 0
t_eq concurrent-one-row-per-user "$(sql "SELECT count(*), count(DISTINCT user_id) FROM assignments WHERE experiment = '$C'")" "300|300"
verdict=$(python3 - "$tmp" <<'EOF'
import json, sys, collections
variants, news = collections.defaultdict(set), collections.Counter()
lines = 0
for p in range(1, 9):
    for line in open(f"{sys.argv[1]}/out.{p}"):
        r = json.loads(line); lines += 1
        variants[r["user"]].add(r["variant"]); news[r["user"]] += r["new"]
bad = [u for u in variants if len(variants[u]) != 1 or news[u] != 1]
print(f"lines={lines} users={len(variants)} disagreeing={len(bad)}")
EOF
)
t_eq concurrent-all-agree-one-new "$verdict" "lines=2400 users=300 disagreeing=0"
stored=$(sql "SELECT string_agg(user_id || '=' || variant, ',' ORDER BY user_id) FROM assignments WHERE experiment = '$C'")
printed=$(python3 -c '
import json,sys
rows = {}
for line in open(sys.argv[1]):
    r = json.loads(line); rows[r["user"]] = r["variant"]
print(",".join(f"{u}={v}" for u, v in sorted(rows.items())))' "$tmp/out.1")
t_eq concurrent-output-matches-stored "$printed" "$stored"

# --- bulk: ids and JSON objects, one result per line ----------------------
T=asg-target-$run
"$NB" exp create --key "$T" --name Target --variants control:50,treatment:50 \
	--condition '{"country":{"$in":["US","CA"]},"age":{"$gte":18}}' >/dev/null
"$NB" exp start "$T" >/dev/null
cat >"$tmp/bulk" <<'EOF'
{"user_id":"b1","attributes":{"country":"US","age":30}}
{"user_id":"b2","country":"CA","age":40}
{"user_id":"b3","country":"FR","age":40}

{"user_id":"b4","attributes":{"country":"US","age":12}}
EOF
t_run bulk 0 "$NB" assign "$T" --users - <"$tmp/bulk"
t_eq bulk-one-line-per-user "$(wc -l <<<"$T_OUT")" 4
t_eq bulk-in-flags "$(grep -o '"in_experiment":[a-z]*' <<<"$T_OUT" | tr '\n' ' ')" \
	'"in_experiment":true "in_experiment":true "in_experiment":false "in_experiment":false '
t_match bulk-reason "$(sed -n 3p <<<"$T_OUT")" '"reason":"targeting condition not met"'
t_eq bulk-stores-only-targeted "$(sql "SELECT string_agg(user_id, ',' ORDER BY user_id) FROM assignments WHERE experiment = '$T'")" "b1,b2"
t_eq bulk-context-stored "$(sql "SELECT context->>'country' FROM assignments WHERE experiment = '$T' AND user_id = 'b2'")" CA
printf 'b1\n{"nope":1}\n' >"$tmp/bad"
t_run bulk-bad-line 2 "$NB" assign "$T" --users "$tmp/bad"
t_match bulk-bad-line-named "$T_OUT" '"line":2,"error":"user_id must be a non-empty string"'

# --- single user: targeting via --attr / --attrs ---------------------------
t_run not-targeted 0 "$NB" assign "$T" zed --attr country=FR --attr age=30 --json
t_match not-targeted-json "$T_OUT" '"in_experiment":false,"variant":null,"reason":"targeting condition not met","source":null,"assigned_at":null,"new":false'
t_eq not-targeted-not-stored "$(sql "SELECT count(*) FROM assignments WHERE experiment = '$T' AND user_id = 'zed'")" 0
t_run targeted-attr 0 "$NB" assign "$T" yan --attr country=US --attr age=30 --json
t_match targeted-attr-in "$T_OUT" '"in_experiment":true'
t_run targeted-attrs 0 "$NB" assign "$T" xia --attrs '{"country":"CA","age":19}' --json
t_match targeted-attrs-in "$T_OUT" '"in_experiment":true'

# --- refusals ---------------------------------------------------------------
D=asg-draft-$run
"$NB" exp create --key "$D" --name Draft --variants a,b >/dev/null
t_run draft-refused 2 "$NB" assign "$D" u1
t_match draft-refused-reason "$T_ERR" "\"$D\" is draft, not running"
"$NB" exp start "$D" >/dev/null && "$NB" exp pause "$D" >/dev/null
t_run paused-refused 2 "$NB" assign "$D" u1
t_match paused-refused-reason "$T_ERR" "is paused, not running"
t_run unknown-experiment 2 "$NB" assign "no-such-exp-$run" u1
t_run missing-user 2 "$NB" assign "$E"
t_match missing-user-msg "$T_ERR" "USER or --users"
t_run bad-attrs 2 "$NB" assign "$E" u1 --attrs '[1]'
t_match bad-attrs-msg "$T_ERR" "--attrs must be a JSON object"
t_run bad-attr 2 "$NB" assign "$E" u1 --attr novalue
t_match bad-attr-msg "$T_ERR" 'attr "novalue" is not KEY=VALUE'
t_run help 0 "$NB" assign --help
t_match help-text "$T_OUT" "usage: neonblue assign EXP USER"

t_done
