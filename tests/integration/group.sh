#!/usr/bin/env bash
# group.sh — `neonblue group` against the embedded stack: saved groups are
# stored, edited, listed and audited, and `neonblue assign` evaluates
# $inGroup / $notInGroup / $savedGroup against them as they are now.
# needs: stack
. "$(dirname "$0")/../lib/t.sh"
: "${NEONBLUE_HOME:?needs a running stack (tests/run.sh starts one)}"
. "$NEONBLUE_HOME/stack.env"
export NEONBLUE_PG
sql() { psql "$NEONBLUE_PG" -X -Atqc "$1"; }
run=$$
G=beta-$run
E=grp-$run

t_run create 0 "$NB" group create "$G" --values '["u1","u2"]' --attribute id --description "beta users"
t_eq stored "$(sql "SELECT \"values\"::text || ' ' || attribute_key FROM saved_groups WHERE id = '$G'")" '["u1", "u2"] id'
t_run duplicate 2 "$NB" group create "$G" --values '[]'
t_run not-an-array 2 "$NB" group create "x-$G" --values '{"a":1}'
t_match not-an-array-says "$T_ERR" 'must be a JSON array'
t_run needs-values 2 "$NB" group create "y-$G"
t_run show-json 0 "$NB" group show "$G" --json
t_match show-json-fields "$T_OUT" "\"id\":\"$G\",\"attribute_key\":\"id\",\"values\":\\[\"u1\",\"u2\"\\],\"description\":\"beta users\""
t_run show-unknown 2 "$NB" group show "nope-$G"
t_run list 0 "$NB" group list
t_match list-row "$T_OUT" "$G +id +2"

t_run exp-create 0 "$NB" exp create --key "$E" --variants a:50,b:50 --condition "{\"id\":{\"\$inGroup\":\"$G\"}}"
t_run exp-start 0 "$NB" exp start "$E"
t_run in-group 0 "$NB" assign "$E" u1 --attr id=u1 --json
t_match in-group-assigned "$T_OUT" '"in_experiment":true'
t_run not-in-group 0 "$NB" assign "$E" u3 --attr id=u3 --json
t_match not-in-group-refused "$T_OUT" '"reason":"targeting condition not met"'

# an edit takes effect at the next assignment
t_run edit 0 "$NB" group edit "$G" --values '["u1","u2","u3"]'
t_run edited-in-group 0 "$NB" assign "$E" u3 --attr id=u3 --json
t_match edited-in-group-assigned "$T_OUT" '"in_experiment":true'
t_eq audited "$(sql "SELECT string_agg(action, ',' ORDER BY id) FROM audit_log WHERE entity = 'saved_group' AND key = '$G'")" 'create,update'
t_eq audit-before "$(sql "SELECT before->'values' FROM audit_log WHERE entity = 'saved_group' AND key = '$G' AND action = 'update'")" '["u1", "u2"]'
t_run edit-unknown 2 "$NB" group edit "nope-$G" --values '[]'

# $notInGroup, and $savedGroup with the group's own attribute
E2=grp-not-$run
t_run exp2-create 0 "$NB" exp create --key "$E2" --variants a:50,b:50 --condition "{\"id\":{\"\$notInGroup\":\"$G\"}}"
t_run exp2-start 0 "$NB" exp start "$E2"
t_run not-in-group-member 0 "$NB" assign "$E2" u2 --attr id=u2 --json
t_match not-in-group-member-refused "$T_OUT" '"reason":"targeting condition not met"'
t_run not-in-group-other 0 "$NB" assign "$E2" u9 --attr id=u9 --json
t_match not-in-group-other-assigned "$T_OUT" '"in_experiment":true'
E3=grp-saved-$run
t_run exp3-create 0 "$NB" exp create --key "$E3" --variants a:50,b:50 --condition "{\"\$savedGroup\":{\"id\":\"$G\"}}"
t_run exp3-start 0 "$NB" exp start "$E3"
t_run saved-group-member 0 "$NB" assign "$E3" u1 --attr id=u1 --json
t_match saved-group-member-assigned "$T_OUT" '"in_experiment":true'
t_run saved-group-other 0 "$NB" assign "$E3" u9 --attr id=u9 --json
t_match saved-group-other-refused "$T_OUT" '"reason":"targeting condition not met"'
t_done
