# sdk_diff.sh — NeonBlue's targeting, hashing and bucketing against the
# official GrowthBook SDK (tests/sdk, installed by `make deps`) on 10,000
# seeded random cases (tests/sdk/diff.js): zero disagreements.
source "$NB_ROOT/tests/lib/t.sh"
cd "$NB_ROOT"

nb_eval=build/asan/tests/sdk/nb_eval
t_eq sdk_installed "$(test -f tests/sdk/node_modules/@growthbook/growthbook/package.json && echo yes)" yes
t_eq nb_eval_built "$(test -x $nb_eval && echo yes)" yes
for seed in 13 2026; do
	t_run "seed_${seed}_zero_disagreements" 0 node tests/sdk/diff.js "$nb_eval" 10000 "$seed"
	echo "$T_OUT"
	t_match "seed_${seed}_counts" "$T_OUT" 'sdk_diff: 10000 cases \([0-9]+ conditions, [0-9]+ of them true; [0-9]+ hashing/bucketing/decisions\), 0 disagreements'
done
t_done
