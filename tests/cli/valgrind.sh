# valgrind.sh — the CLI paths are clean under valgrind (release build):
# no invalid reads/writes, no use of uninitialised values, no definite leaks.
# needs: stack
source "$NB_ROOT/tests/lib/t.sh"
REL=${NB_REL:-$NB_ROOT/build/neonblue}
VG=(valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite
    --show-leak-kinds=definite)
key=vg$$
# vg NAME EXPECTED_STATUS [stdin-file] -- ARGS...
vg() {
	local name=$1 want=$2; shift 2
	local in=/dev/null
	if [ "$1" != "--" ]; then in=$1; shift; fi
	shift
	local log; log=$(mktemp)
	"${VG[@]}" --log-file="$log" "$REL" "$@" <"$in" >/dev/null 2>&1
	local rc=$?
	if [ "$rc" == "$want" ] && ! [ -s "$log" ]; then t_pass "$name"; else
		t_fail "$name" "neonblue $* exited $rc (want $want); valgrind: $(head -c 600 "$log")"; fi
	rm -f "$log"
}
vg help 0 -- --help
vg version_json 0 -- version --json
vg unknown_command 2 -- no-such-command
echo '{"control_n":1000,"control_conversions":100,"treatment_n":1000,"treatment_conversions":120}' >"$NB_TEST_TMP/vg_prop.json"
vg stats_proportions 0 "$NB_TEST_TMP/vg_prop.json" -- stats proportions
echo '{"variants":[{"n":1000,"conversions":100},{"n":1000,"conversions":120},{"n":900,"conversions":95}]}' >"$NB_TEST_TMP/vg_bayes.json"
vg stats_bayes 0 "$NB_TEST_TMP/vg_bayes.json" -- stats bayes
vg stats_bad_input 2 "$NB_TEST_TMP/vg_prop.json" -- stats welch
vg metric_create 0 -- metric create --key "${key}_conv" --name Conversion --kind binomial --events purchase
vg exp_create 0 -- exp create --key "$key" --name "Valgrind" --variants control:50,treatment:50 --metrics "${key}_conv:primary"
vg exp_bad_weights 2 -- exp create --key "${key}x" --name x --variants a:10,b:10
vg exp_start 0 -- exp start "$key"
vg exp_show_json 0 -- exp show "$key" --json
vg exp_list_json 0 -- exp list --json
vg assign_one 0 -- assign "$key" user-1 --attr country=NL --json
printf 'u1\nu2\n{"user_id":"u3","country":"DE"}\n' >"$NB_TEST_TMP/vg_users.txt"
vg assign_bulk 0 -- assign "$key" --users "$NB_TEST_TMP/vg_users.txt"
vg track 0 -- track u1 purchase --value 9.5 --exp "$key" --props '{"sku":"a"}'
printf '{"user_id":"u2","type":"purchase","value":3}\n{"user_id":"u3","type":"view"}\n' >"$NB_TEST_TMP/vg_events.jsonl"
vg ingest 0 -- ingest "$NB_TEST_TMP/vg_events.jsonl"
printf '{"user_id":"u2","type":"purchase"}\nnot json\n' >"$NB_TEST_TMP/vg_bad.jsonl"
vg ingest_invalid 2 -- ingest "$NB_TEST_TMP/vg_bad.jsonl"
vg stack_status_json 0 -- stack status --json
vg token_create 0 -- token create --name "${key}-tok" --scopes read,track --rate 5/s --json
vg token_list 0 -- token list --json
vg token_bad_scope 2 -- token create --name "${key}-bad" --scopes nope
vg token_revoke 0 -- token revoke "${key}-tok"
# the report reads ClickHouse: wait for the pipeline to bring the experiment there
for _ in $(seq 60); do "$REL" report "$key" --json >/dev/null 2>&1 && break; sleep 0.5; done
vg report_json 0 -- report "$key" --json
t_done
