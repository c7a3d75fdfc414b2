#!/usr/bin/env bash
# stats.sh — the `neonblue stats` contract: stdin JSON → stdout JSON keys,
# flags form, human table, --help, and exit 2 naming the key on bad input.
. "$(dirname "$0")/../lib/t.sh"

# keys KEY... — every key is in $T_OUT (a JSON object)
has_keys() {
	local name=$1; shift
	local missing=
	for k in "$@"; do
		[[ "$T_OUT" == *"\"$k\":"* ]] || missing="$missing $k"
	done
	if [ -z "$missing" ]; then t_pass "$name"; else t_fail "$name" "missing keys:$missing in ${T_OUT:0:300}"; fi
}

# --- every family: stdin JSON in, JSON object with the contract keys out
t_run proportions_json 0 bash -c 'echo "{\"control_n\":1000,\"control_conversions\":100,\"treatment_n\":1000,\"treatment_conversions\":120}" | "$NB" stats proportions'
has_keys proportions_keys p_control p_treatment diff p_pooled se_pooled z p_value se_unpooled ci95_lower ci95_upper
t_match proportions_full_precision "$T_OUT" '"diff":0\.0[0-9]{15,}'

MEANS='{"control_n":1000,"control_mean":10,"control_var":4,"treatment_n":1000,"treatment_mean":10.3,"treatment_var":4.5}'
t_run welch_json 0 bash -c "echo '$MEANS' | \"\$NB\" stats welch"
has_keys welch_keys diff se t df p_value t_crit_975 ci95_lower ci95_upper
t_run lift_json 0 bash -c "echo '$MEANS' | \"\$NB\" stats lift"
has_keys lift_keys lift se_lift ci95_lower ci95_upper z p_value

t_run srm_json 0 bash -c 'echo "{\"observed\":[5000,5400],\"weights\":[1,1]}" | "$NB" stats srm'
has_keys srm_keys expected_counts chi2 df p_value mismatch
t_match srm_mismatch "$T_OUT" '"mismatch":true'

t_run bayes_json 0 bash -c 'echo "{\"variants\":[{\"n\":1000,\"conversions\":100},{\"n\":1000,\"conversions\":120}]}" | "$NB" stats bayes'
has_keys bayes_keys posterior_params posterior_means prob_best expected_loss prob_treatment_beats_control
t_match bayes_value "$T_OUT" '"prob_treatment_beats_control":0\.923183438973'
t_run bayes_three_arms 0 bash -c 'echo "{\"variants\":[{\"n\":1000,\"conversions\":100},{\"n\":1000,\"conversions\":120},{\"n\":900,\"conversions\":95}],\"prior\":[1,1]}" | "$NB" stats bayes'
if [[ "$T_OUT" == *prob_treatment_beats_control* ]]; then t_fail bayes_three_no_pairwise "pairwise key with 3 arms"; else t_pass bayes_three_no_pairwise; fi

t_run power_json 0 bash -c 'echo "{\"baseline_rate\":0.1,\"relative_mde\":-0.1}" | "$NB" stats power'
has_keys power_keys n_normal_approx n_normal_approx_ceil n_cohens_h n_cohens_h_ceil

t_run adjust_json 0 bash -c 'echo "{\"p_values\":[0.01,0.04,0.03,0.005],\"alpha\":0.05}" | "$NB" stats adjust'
has_keys adjust_keys holm_adjusted holm_reject bh_adjusted bh_reject bonferroni_adjusted
t_match adjust_bool_lists "$T_OUT" '"holm_reject":\[(true|false)(,(true|false)){3}\]'

t_run chisq_json 0 bash -c 'echo "{\"table\":[[120,880],[100,900]]}" | "$NB" stats chisq'
has_keys chisq_keys expected_counts dof chi2 p_value chi2_yates p_value_yates
t_run chisq_3x2_yates_null 0 bash -c 'echo "{\"table\":[[120,880],[100,900],[90,910]]}" | "$NB" stats chisq'
t_match chisq_yates_null "$T_OUT" '"chi2_yates":null'

t_run mannwhitney_json 0 bash -c 'echo "{\"treatment\":[1,2,2,3,4],\"control\":[1,1,2,5]}" | "$NB" stats mannwhitney'
has_keys mannwhitney_keys U_treatment U_control sigma z p_value

t_run msprt_json 0 bash -c 'echo "{\"control_n\":1000,\"treatment_n\":1000,\"control_var\":0.09,\"treatment_var\":0.0975,\"diff\":0.02,\"tau2\":0.0001}" | "$NB" stats msprt'
has_keys msprt_keys V log_lambda lambda p_value log10_p_value
t_run msprt_looks 0 bash -c 'echo "{\"looks\":[{\"control_n\":100,\"treatment_n\":100,\"control_var\":1,\"treatment_var\":1,\"diff\":0.3,\"tau2\":0.01},{\"control_n\":200,\"treatment_n\":200,\"control_var\":1,\"treatment_var\":1,\"diff\":0.05,\"tau2\":0.01}]}" | "$NB" stats msprt'
has_keys msprt_looks_keys p_running p_value

t_run cuped_json 0 bash -c 'echo "{\"control\":{\"x\":[1,2,3,4],\"y\":[1.1,2.3,2.9,4.2]},\"treatment\":{\"x\":[1,2,3,4],\"y\":[1.6,2.4,3.7,4.4]}}" | "$NB" stats cuped'
has_keys cuped_keys theta x_mean_pooled diff_raw diff_adj variance_reduction_ratio welch_adjusted welch_raw t_crit_975

# --- undefined values are null
t_run null_for_undefined 0 bash -c 'echo "{\"control_n\":100,\"control_conversions\":0,\"treatment_n\":100,\"treatment_conversions\":0}" | "$NB" stats proportions'
t_match null_z "$T_OUT" '"z":null,"p_value":null'

# --- flags form: a short table for humans, --json for JSON
t_run flags_table 0 "$NB" stats proportions --control 1000:100 --treatment 1000:120
t_match flags_table_rows "$T_OUT" 'p_value +0\.1[0-9]*'
if [[ "$T_OUT" == "{"* ]]; then t_fail flags_table_not_json "table expected"; else t_pass flags_table_not_json; fi
t_run flags_json 0 "$NB" stats proportions --control 1000:100 --treatment 1000:120 --json
t_match flags_json_object "$T_OUT" '^\{"p_control":0\.1,'
t_run flags_bayes 0 "$NB" stats bayes --variant 1000:100 --variant 1000:120 --json
t_match flags_bayes_value "$T_OUT" '"prob_treatment_beats_control":0\.923183438973'
t_run flags_welch 0 "$NB" stats welch --control 1000:10:4 --treatment=1000:10.3:4.5
t_run flags_power 0 "$NB" stats power --baseline-rate 0.1 --relative-mde 0.1 --json
t_run flags_srm 0 "$NB" stats srm --observed 5000,5400 --weights 1,1
t_run flags_chisq 0 "$NB" stats chisq --row 120:880 --row 100:900
t_run flags_adjust 0 "$NB" stats adjust --p-values 0.01,0.04,0.03
t_run flags_mannwhitney 0 "$NB" stats mannwhitney --treatment 1,2,3 --control 0.5,1.5
t_run flags_msprt 0 "$NB" stats msprt --control 1000:0.09 --treatment 1000:0.0975 --diff 0.02 --tau2 0.0001
t_run flags_cuped 0 "$NB" stats cuped --control-x 1,2,3 --control-y 1.5,2.4,3.1 --treatment-x 1,2,3 --treatment-y 2,2.9,4

# --- help
t_run help 0 "$NB" stats --help
for fam in proportions welch lift srm bayes power adjust chisq mannwhitney msprt cuped; do
	t_match "help_lists_$fam" "$T_OUT" "$fam"
done
t_run family_help 0 "$NB" stats bayes --help
t_match family_help_keys "$T_OUT" 'Input keys: +variants.*Output keys: +posterior_params'

# --- bad input: exit 2, one line naming the key
bad() { # NAME JSON FAMILY REGEX
	t_run "$1" 2 bash -c "echo '$2' | \"\$NB\" stats $3"
	t_match "$1_msg" "$T_ERR" "$4"
	local lines
	lines=$(printf '%s\n' "$T_ERR" | grep -c .)
	t_eq "$1_one_line" "$lines" 1
}
bad missing_key '{"control_n":10,"control_conversions":1,"treatment_n":10}' proportions 'treatment_conversions: missing'
bad negative_n '{"control_n":-5,"control_conversions":1,"treatment_n":10,"treatment_conversions":1}' proportions 'control_n: must not be negative'
bad conversions_gt_n '{"control_n":10,"control_conversions":11,"treatment_n":10,"treatment_conversions":1}' proportions 'control_conversions: 11 exceeds control_n'
bad one_arm '{"variants":[{"n":10,"conversions":1}]}' bayes 'variants: need at least two arms'
bad one_arm_srm '{"observed":[10],"weights":[1]}' srm 'observed: need at least two arms'
bad non_numeric '{"control_n":"ten","control_mean":1,"control_var":1,"treatment_n":10,"treatment_mean":1,"treatment_var":1}' welch 'control_n: must be a number'
bad nan_literal '{"control_n":NaN,"control_mean":1,"control_var":1,"treatment_n":10,"treatment_mean":1,"treatment_var":1}' welch 'control_n: not a valid JSON value.*NaN'
bad infinity_literal '{"observed":[10,Infinity],"weights":[1,1]}' srm 'observed: not a valid JSON value'
bad inf_number '{"control_n":10,"control_mean":1e999,"control_var":1,"treatment_n":10,"treatment_mean":1,"treatment_var":1}' lift 'control_mean: must be a finite number'
bad array_item '{"observed":[10,"x"],"weights":[1,1]}' srm 'observed\[1\]: must be a number'
bad bayes_conv '{"variants":[{"n":10,"conversions":1},{"n":10,"conversions":12}]}' bayes 'variants\[1\]\.conversions'
bad unknown_key '{"control_n":10,"control_conversions":1,"treatment_n":10,"treatment_conversions":1,"contrl":3}' proportions 'contrl: unknown key'
bad not_json '{control_n: 10' proportions 'not valid JSON'
t_run flag_nan 2 "$NB" stats proportions --control nan:1 --treatment 10:1
t_match flag_nan_msg "$T_ERR" 'control_n: must be a finite number'
t_run flag_bad_value 2 "$NB" stats proportions --control 10 --treatment 10:1
t_match flag_bad_value_msg "$T_ERR" '--control: expected 2 numbers'
t_run unknown_family 2 "$NB" stats nosuch
# --- every reference case of tests/ref/stats_ref.json through the CLI (JSON in,
# JSON out), compared at 1e-9 relative / 1e-12 absolute like the unit test
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
ref_out=$("$PY" - "$NB" "${NB_ROOT:-.}/tests/ref/stats_ref.json" <<'PYEOF'
import json, math, subprocess, sys
nb, path = sys.argv[1], sys.argv[2]
cli = {"proportions", "welch", "lift", "srm", "bayes", "power", "adjust", "chisq",
       "mannwhitney", "msprt", "cuped"}
def flat(v):
    if isinstance(v, list):
        return [x for e in v for x in flat(e)]
    return [v]
def same(a, b):
    if b is None or a is None:
        return a is None and b is None
    if isinstance(b, bool) or isinstance(a, bool):
        return a == b
    d = abs(a - b)
    return d <= 1e-12 or d <= 1e-9 * abs(b)
res = {}
for c in json.load(open(path))["cases"]:
    fam = c["family"]
    if fam not in cli:
        continue
    p = subprocess.run([nb, "stats", fam], input=json.dumps(c["input"]), capture_output=True,
                       text=True)
    bad = res.setdefault(fam, [])
    if p.returncode != 0:
        bad.append("%s: exit %d %s" % (c["name"], p.returncode, p.stderr.strip()))
        continue
    out = json.loads(p.stdout)
    for k, exp in c["expected"].items():
        got = out.get(k)
        if isinstance(exp, dict):
            pairs = [(kk, (got or {}).get(kk), vv) for kk, vv in exp.items()]
        else:
            g, e = flat(got), flat(exp)
            if len(g) != len(e):
                bad.append("%s %s: %d values, expected %d" % (c["name"], k, len(g), len(e)))
                continue
            pairs = [("%s[%d]" % (k, i), x, y) for i, (x, y) in enumerate(zip(g, e))]
        for kk, x, y in pairs:
            if not same(x, y):
                bad.append("%s %s = %r, expected %r" % (c["name"], kk, x, y))
for fam in sorted(cli):
    b = res.get(fam)
    print(fam, "none" if b is None else ("ok" if not b else "; ".join(b[:3])))
PYEOF
)
while read -r fam status; do
	case "$status" in
	ok) t_pass "ref_cli_$fam" ;;
	*) t_fail "ref_cli_$fam" "$status" ;;
	esac
done <<<"$ref_out"
t_done
