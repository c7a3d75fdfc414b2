#!/usr/bin/env bash
# metric.sh — `neonblue metric` against PostgreSQL: every kind, validation errors naming
# the field, edit, list/show --json, audit rows with before/after.
# needs: stack
# (NEONBLUE_PG alone also works: the tests only need a migrated PostgreSQL.)
. "$(dirname "$0")/../lib/t.sh"

if [ -z "${NEONBLUE_PG:-}" ] && [ -n "${NEONBLUE_HOME:-}" ] && [ -f "$NEONBLUE_HOME/stack.env" ]; then
	NEONBLUE_PG=$(sed -n 's/^NEONBLUE_PG=//p' "$NEONBLUE_HOME/stack.env" | sed "s/^['\"]//; s/['\"]\$//")
fi
PGC=${NEONBLUE_PG:-}
P=m$(date +%s%N | tail -c 8)
sql() { psql "$PGC" -XAtq -v ON_ERROR_STOP=1 -c "$1"; }
jf() { python3 -c 'import json,sys; j=json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$1" "$2"; }
audits() { sql "SELECT count(*) FROM audit_log WHERE entity = 'metric' AND key = '$1'${2:+ AND action = '$2'}"; }

t_run migrate 0 $NB migrate
t_run help 0 $NB metric --help
t_match help-kinds "$T_OUT" 'binomial'
t_run unknown-action 2 $NB metric drop x

# ---- every kind ------------------------------------------------------------------
t_run create-binomial 0 $NB --actor mia metric create --key "${P}-conv" --name "Conversion" \
	--kind binomial --events purchase,signup --json
t_eq binomial-json "$(jf "$T_OUT" '(j["kind"], j["event_types"], j["direction"], j["winsorize"], j["value_property"])')" \
	"('binomial', ['purchase', 'signup'], 'increase', None, None)"
t_run create-count 0 $NB metric create --key "${P}-views" --kind count --events page_view
t_run create-sum 0 $NB metric create --key "${P}-rev" --kind sum --events purchase \
	--value-property amount --winsorize 99 --description "revenue per user"
t_run create-mean 0 $NB metric create --key "${P}-lat" --kind mean --events page_view --direction decrease
t_run create-ratio 0 $NB metric create --key "${P}-aov" --kind ratio --events purchase,checkout
t_run show 0 $NB metric show "${P}-rev" --json
t_eq show-sum "$(jf "$T_OUT" '(j["kind"], j["value_property"], j["winsorize"], j["description"], j["name"])')" \
	"('sum', 'amount', 99, 'revenue per user', '${P}-rev')"
t_eq show-fields "$(jf "$T_OUT" 'sorted(j)')" "['created_at', 'description', 'direction', 'event_types', 'key', 'kind', 'name', 'updated_at', 'value_property', 'winsorize']"
t_run show-text 0 $NB metric show "${P}-lat"
t_match show-text-dir "$T_OUT" 'mean, decrease'
t_eq stored-array "$(sql "SELECT array_to_string(event_types, '|') FROM metrics WHERE key = '${P}-conv'")" "purchase|signup"

# ---- validation --------------------------------------------------------------------
bad() { # bad NAME REGEX ARGS...
	local name=$1 re=$2; shift 2
	t_run "invalid-$name" 2 $NB metric create "$@"
	t_match "invalid-$name-msg" "$T_ERR" "$re"
}
bad key "key 'Bad' is not a valid key" --key Bad --kind count --events x
bad key-missing 'key is required' --kind count --events x
bad kind "kind 'median'" --key "${P}-b1" --kind median --events x
bad kind-missing 'kind is required' --key "${P}-b1" --events x
bad events-missing 'events are required' --key "${P}-b2" --kind count
bad events-empty 'events\[1\] must not be empty' --key "${P}-b2" --kind count --events x,
bad events-dup "events\\[1\\] 'x' is listed twice" --key "${P}-b2" --kind count --events x,x
bad ratio-one 'ratio metric needs exactly two' --key "${P}-b3" --kind ratio --events x
bad direction "direction 'up'" --key "${P}-b4" --kind count --events x --direction up
bad winsorize-range 'winsorize must be a percentile' --key "${P}-b5" --kind sum --events x --winsorize 150
bad winsorize-nan "winsorize 'high' is not a number" --key "${P}-b5" --kind sum --events x --winsorize high
bad winsorize-binomial 'winsorize does not apply to binomial' --key "${P}-b6" --kind binomial --events x --winsorize 99
bad duplicate "metric '${P}-conv' already exists" --key "${P}-conv" --kind count --events x
t_eq invalid-wrote-nothing "$(sql "SELECT count(*) FROM metrics WHERE key LIKE '${P}-b%'")" 0
t_eq invalid-no-audit "$(sql "SELECT count(*) FROM audit_log WHERE key LIKE '${P}-b%'")" 0
t_eq duplicate-no-audit "$(audits "${P}-conv")" 1

# ---- edit --------------------------------------------------------------------------
t_run edit 0 $NB --actor noa metric edit "${P}-rev" --winsorize 95 --direction decrease --json
t_eq edit-json "$(jf "$T_OUT" '(j["winsorize"], j["direction"], j["kind"], j["value_property"])')" "(95, 'decrease', 'sum', 'amount')"
t_run edit-clear 0 $NB metric edit "${P}-rev" --winsorize none --value-property none --json
t_eq edit-clear-json "$(jf "$T_OUT" '(j["winsorize"], j["value_property"])')" "(None, None)"
t_run edit-invalid 2 $NB metric edit "${P}-views" --kind ratio
t_match edit-invalid-msg "$T_ERR" 'exactly two'
t_eq edit-invalid-unchanged "$(sql "SELECT kind FROM metrics WHERE key = '${P}-views'")" count
t_eq edit-invalid-no-audit "$(audits "${P}-views")" 1
t_run edit-key 2 $NB metric edit "${P}-conv" --key other
t_run edit-unknown 2 $NB metric edit "${P}-none" --name x
t_match edit-unknown-msg "$T_ERR" "no metric '${P}-none'"
t_run show-unknown 2 $NB metric show "${P}-none"

# ---- audit ---------------------------------------------------------------------------
t_eq audit-create "$(sql "SELECT actor || ' ' || (before IS NULL) || ' ' || (after->>'kind') FROM audit_log WHERE entity = 'metric' AND key = '${P}-conv' AND action = 'create'")" "mia true binomial"
t_eq audit-edit "$(sql "SELECT actor || ' ' || (before->>'winsorize') || '>' || (after->>'winsorize') FROM audit_log WHERE entity = 'metric' AND key = '${P}-rev' AND action = 'update' ORDER BY id LIMIT 1")" "noa 99>95"
t_eq audit-rev-actions "$(sql "SELECT string_agg(action, ',' ORDER BY id) FROM audit_log WHERE entity = 'metric' AND key = '${P}-rev'")" "create,update,update"

# ---- list ---------------------------------------------------------------------------
t_run list-json 0 $NB metric list --json
t_eq list-mine "$(jf "$T_OUT" '[x["key"].replace("'"$P"'", "") for x in j if x["key"].startswith("'"$P"'")]')" \
	"['-aov', '-conv', '-lat', '-rev', '-views']"
t_run list-text 0 $NB metric list
t_match list-text-row "$T_OUT" "${P}-aov +ratio +increase +purchase,checkout"

t_done
