#!/usr/bin/env bash
# flag.sh — `neonblue flag` against the shared stack's PostgreSQL: every rule
# kind (force, rollout, experiment through the sticky assignment, a holdout
# excluding its users), off wins over every rule, a 25 % rollout serves about
# a quarter of 2,000 users, bad input refused naming the field with nothing
# written, the audit rows of each change.
# needs: stack
. "$(dirname "$0")/../lib/t.sh"
: "${NEONBLUE_HOME:?needs a running stack (tests/run.sh starts one)}"
. "$NEONBLUE_HOME/stack.env"
export NEONBLUE_PG NEONBLUE_CLICKHOUSE
sql() { psql "$NEONBLUE_PG" -X -Atqc "$1"; }
jf() { python3 -c 'import json,sys; j=json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$1" "$2"; }
# count lines of a JSON Lines text for which the python expression holds
jl() { python3 -c 'import json,sys; print(sum(1 for l in sys.stdin if l.strip() and eval(sys.argv[1], {}, {"j": json.loads(l)})))' "$1"; }
run=$$
tmp=$(mktemp -d /tmp/nbflag.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
F=fl$run
seq -f "u%g" 1 2000 >"$tmp/users"

# ---- help ----
t_run help 0 "$NB" flag --help
t_match help-actions "$T_OUT" 'rollout KEY PERCENT'
t_run unknown-action 2 "$NB" flag frob

# ---- force rule; a new flag is off ----
t_run create 0 "$NB" flag create "$F" --description "new checkout" \
	--rule '{"type":"force","condition":{"country":"NL"},"value":true}'
t_run eval-new-off 0 "$NB" flag eval "$F" u1 --attr country=NL --json
t_eq eval-new-off-default "$(jf "$T_OUT" "(j['value'], j['source'])")" "(False, 'off')"
t_run on 0 "$NB" flag on "$F"
t_run eval-force 0 "$NB" flag eval "$F" u1 --attr country=NL
t_eq eval-force-text "$T_OUT" "$F u1: true (force, rule 0)"
t_run eval-no-match 0 "$NB" flag eval "$F" u1 --attr country=DE --json
t_eq eval-no-match-default "$(jf "$T_OUT" "(j['value'], j['source'], j['rule'])")" "(False, 'default', None)"

# ---- rollout 25 %: about a quarter, stable ----
t_run rollout 0 "$NB" flag rollout "$F" 25%
t_run rollout-users 0 "$NB" flag eval "$F" --users "$tmp/users"
on=$(jl "j['value'] is True" <<<"$T_OUT")
t_match rollout-share "$on" '^(4[4-9][0-9]|5[0-5][0-9])$' # 2000 × 25 % ± 3 sd
t_eq rollout-source "$(jl "j['value'] is True and j['source'] == 'rollout' and j['rule'] == 1" <<<"$T_OUT")" "$on"
t_run rollout-half 0 "$NB" flag rollout "$F" 50
t_run rollout-users-half 0 "$NB" flag eval "$F" --users "$tmp/users"
t_match rollout-grows "$(jl "j['value'] is True" <<<"$T_OUT")" '^(9[3-9][0-9]|10[0-6][0-9])$'
t_eq rollout-one-rule "$(sql "SELECT jsonb_array_length(rules) FROM flags WHERE key = '$F'")" 2

# ---- off wins over every rule ----
t_run off 0 "$NB" flag off "$F"
t_run off-users 0 "$NB" flag eval "$F" --users "$tmp/users"
t_eq off-everyone-default "$(jl "j['value'] is False and j['source'] == 'off'" <<<"$T_OUT")" 2000
t_run off-force 0 "$NB" flag eval "$F" u1 --attr country=NL --json
t_eq off-beats-force "$(jf "$T_OUT" "(j['value'], j['source'])")" "(False, 'off')"

# ---- audit ----
t_run history 0 "$NB" flag history "$F" --json
t_eq history-actions "$(jf "$T_OUT" "[r['action'] for r in j]")" "['create', 'on', 'rollout', 'rollout', 'off']"
t_eq history-after "$(jf "$T_OUT" "(j[-1]['before']['enabled'], j[-1]['after']['enabled'], j[2]['after']['rules'][1]['coverage'])")" "(True, False, 0.25)"
t_run off-again 0 "$NB" flag off "$F"
t_eq off-again-no-change "$(sql "SELECT version, (SELECT count(*) FROM audit_log WHERE entity = 'flag' AND key = '$F') FROM flags WHERE key = '$F'")" "5|5"

# ---- experiment rule: the sticky assignment decides ----
E=fe$run
"$NB" exp create --key "$E" --variants control:50,treatment:50 >/dev/null
"$NB" exp start "$E" >/dev/null
S=fs$run
t_run create-exp-rule 0 "$NB" flag create "$S" --type string --default none --on \
	--rule "{\"type\":\"experiment\",\"experiment\":\"$E\",\"variations\":{\"control\":\"blue\",\"treatment\":\"green\"}}"
head -200 "$tmp/users" >"$tmp/u200"
t_run exp-assign 0 "$NB" assign "$E" --users "$tmp/u200"
python3 -c 'import json,sys
m={"control":"blue","treatment":"green"}
for l in sys.stdin: j=json.loads(l); print(j["user"], m[j["variant"]])' <<<"$T_OUT" >"$tmp/want"
t_run exp-eval 0 "$NB" flag eval "$S" --users "$tmp/u200"
python3 -c 'import json,sys
for l in sys.stdin: j=json.loads(l); print(j["user"], j["value"])' <<<"$T_OUT" >"$tmp/got"
t_eq exp-agrees-with-assign "$(diff "$tmp/want" "$tmp/got" >/dev/null && echo same || diff "$tmp/want" "$tmp/got" | head -3)" same
t_eq exp-source "$(jl "j['source'] == 'experiment' and j['variant'] in ('control', 'treatment')" <<<"$T_OUT")" 200
# a user assigned before a re-weight keeps the value of the stored variant
t_run exp-eval-text 0 "$NB" flag eval "$S" u1
t_match exp-eval-variant "$T_OUT" "^$S u1: \"(blue|green)\" \\(experiment, rule 0, variant (control|treatment)\\)$"
# a stopped experiment's rule is skipped: the default
"$NB" exp stop "$E" >/dev/null
t_run exp-stopped 0 "$NB" flag eval "$S" u1 --json
t_eq exp-stopped-default "$(jf "$T_OUT" "(j['value'], j['source'])")" "('none', 'default')"

# ---- holdout: a rollout naming it skips its users ----
H=fh$run
"$NB" holdout create "$H" --percent 30 >/dev/null
HE=fhe$run
"$NB" exp create --key "$HE" --variants a,b --holdout "$H" >/dev/null
"$NB" exp start "$HE" >/dev/null
N=fn$run
t_run create-holdout-rule 0 "$NB" flag create "$N" --type number --default 0 --on \
	--rule "{\"type\":\"rollout\",\"coverage\":1,\"holdout\":\"$H\",\"value\":7}"
t_run holdout-eval 0 "$NB" flag eval "$N" --users "$tmp/u200"
python3 -c 'import json,sys
for l in sys.stdin: j=json.loads(l); print(j["user"], j["value"])' <<<"$T_OUT" | sort >"$tmp/hflag"
t_run holdout-assign 0 "$NB" assign "$HE" --users "$tmp/u200"
python3 -c 'import json,sys
for l in sys.stdin: j=json.loads(l); print(j["user"], 0 if "holdout" in j["reason"] else 7)' <<<"$T_OUT" | sort >"$tmp/hexp"
t_eq holdout-same-users "$(diff -q "$tmp/hexp" "$tmp/hflag" >/dev/null && echo same || diff "$tmp/hexp" "$tmp/hflag" | head -3)" same
held=$(grep -c ' 0$' "$tmp/hflag")
t_match holdout-share "$held" '^([3-9][0-9])$' # 200 × 30 % ± 4 sd

# ---- json flag, edit ----
J=fj$run
t_run create-json 0 "$NB" flag create "$J" --type json --default '{"limit":10}' --on
t_run edit-add 0 "$NB" flag edit "$J" --add-rule '{"type":"force","condition":{"plan":"pro"},"value":{"limit":100}}' --json
t_eq edit-add-version "$(jf "$T_OUT" "(j['version'], len(j['rules']))")" "(2, 1)"
t_run json-eval 0 "$NB" flag eval "$J" u1 --attr plan=pro --json
t_eq json-eval-value "$(jf "$T_OUT" "j['value']")" "{'limit': 100}"
t_run edit-remove 0 "$NB" flag edit "$J" --remove-rule 0 --default '{"limit":5}' --json
t_eq edit-remove-result "$(jf "$T_OUT" "(j['version'], j['rules'], j['default_value'])")" "(3, [], {'limit': 5})"
t_run show-json 0 "$NB" flag show "$F" --json
t_eq show-json-fields "$(jf "$T_OUT" "(j['key'], j['type'], j['enabled'], [r['type'] for r in j['rules']], j['rules'][1]['seed'], j['rules'][1]['hash_version'])")" \
	"('$F', 'boolean', False, ['force', 'rollout'], '$F', 2)"
t_run list 0 "$NB" flag list
t_match list-row "$T_OUT" "$F +boolean +off +50% +2 "

# ---- bad input: refused naming the field, nothing written (the pure checks
# of every field: tests/unit/test_flag.c) ----
B=fb$run
audit0=$(sql "SELECT count(*) FROM audit_log WHERE entity = 'flag'")
t_run bad-value-type 2 "$NB" flag create "$B" --rule '{"type":"force","value":"yes"}'
t_match bad-value-type-says "$T_ERR" 'rules\[0\]\.value: "yes" is not a boolean value'
t_run bad-exp 2 "$NB" flag create "$B" --rule '{"type":"experiment","experiment":"nope-'$run'","variations":{"a":true}}'
t_match bad-exp-says "$T_ERR" "rules\\[0\\]\\.experiment: no experiment 'nope-$run'"
t_run bad-variant 2 "$NB" flag create "$B" --type string --rule "{\"type\":\"experiment\",\"experiment\":\"$E\",\"variations\":{\"control\":\"x\"}}"
t_match bad-variant-says "$T_ERR" "rules\\[0\\]\\.variations: no value for variant 'treatment'"
t_run bad-holdout 2 "$NB" flag create "$B" --rule '{"type":"rollout","coverage":0.1,"holdout":"nope-'$run'","value":true}'
t_match bad-holdout-says "$T_ERR" "rules\\[0\\]\\.holdout: no holdout 'nope-$run'"
t_run bad-type 2 "$NB" flag create "$B" --type colour
t_match bad-type-says "$T_ERR" '--type must be boolean, string, number or json'
t_run key-of-experiment 2 "$NB" flag create "$E"
t_match key-of-experiment-says "$T_ERR" "key '$E' is an experiment's"
t_run exp-key-of-flag 2 "$NB" exp create --key "$F" --variants a,b
t_match exp-key-of-flag-says "$T_ERR" "key \"$F\" is a flag's"
t_run dup 2 "$NB" flag create "$F"
t_match dup-says "$T_ERR" "flag '$F' already exists"
t_eq bad-nothing-stored "$(sql "SELECT count(*) FROM flags WHERE key IN ('$B', '$E') OR key LIKE 'bad%'")" 0
t_run bad-rollout 2 "$NB" flag rollout "$F" 150%
t_match bad-rollout-says "$T_ERR" 'PERCENT must be 0..100'
t_run rollout-string-none 2 "$NB" flag rollout "$S" 10%
t_match rollout-string-none-says "$T_ERR" "flag '$S' \\(string\\) has no rollout rule"
t_run bad-edit 2 "$NB" flag edit "$F" --add-rule '{"type":"force","value":3}'
t_match bad-edit-says "$T_ERR" 'rules\[2\]\.value: 3 is not a boolean value'
t_run bad-remove 2 "$NB" flag edit "$F" --remove-rule 9
t_match bad-remove-says "$T_ERR" "rules\\[9\\]: flag '$F' has 2 rules"
t_eq bad-edit-unchanged "$(sql "SELECT version FROM flags WHERE key = '$F'")" 5
t_run unknown-flag 2 "$NB" flag show "nope-$run"
t_match unknown-flag-says "$T_ERR" "no flag 'nope-$run'"
t_eq bad-no-audit "$(sql "SELECT count(*) FROM audit_log WHERE entity = 'flag'")" "$audit0"

# ---- CDC: the flag reaches ClickHouse (neonblue.flags), nothing in the DLQ ----
ch() { curl -sS --data-binary "$1" "$NEONBLUE_CLICKHOUSE/"; }
for _ in $(seq 60); do
	got=$(ch "SELECT enabled, version FROM neonblue.flags FINAL WHERE key = '$F' AND _deleted = 0 FORMAT TSV")
	[ "$got" = "$(printf '0\t5')" ] && break
	sleep 0.5
done
t_eq cdc-clickhouse-row "$got" "$(printf '0\t5')"
t_run cdc-no-dlq 0 "$NB" stack status --json
t_eq cdc-dlq-empty "$(jf "$T_OUT" "[c.get('dlq', 0) for c in j if c.get('name') == 'sink']")" "[0]"
t_done
