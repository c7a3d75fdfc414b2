# sdk_flags.sh — NeonBlue's flags against the official GrowthBook SDK
# (tests/sdk, installed by `make deps`): the feature payload entry
# nb_pg_flag_feature builds, evaluated by the SDK, gives for 1,000 seeded users
# and every rule kind (force with conditions and a saved group, a rollout behind a holdout, rollouts of
# 0/25/100 % by id and by another attribute, experiment rules with namespace,
# weights, coverage and holdout, an off flag) the value nb_flag_eval gives
# (tests/sdk/flags_diff.js): zero disagreements.
source "$NB_ROOT/tests/lib/t.sh"
cd "$NB_ROOT"

nb_flags=build/asan/tests/sdk/nb_flags
t_eq sdk_installed "$(test -f tests/sdk/node_modules/@growthbook/growthbook/package.json && echo yes)" yes
t_eq nb_flags_built "$(test -x $nb_flags && echo yes)" yes
t_run flags_zero_disagreements 0 node tests/sdk/flags_diff.js "$nb_flags" 1000 7
echo "$T_OUT"
t_match flags_counts "$T_OUT" 'flags_diff: 10 flags x 1000 users, 10000 evaluations \(defaultValue [0-9]+, experiment [0-9]+, force [0-9]+\), 0 disagreements'
# every rule kind decided something: the 25 % rollouts and the experiments split users
t_match roll25_splits "$T_OUT" 'f-roll25: 2 distinct values'
t_match roll0_nobody "$T_OUT" 'f-roll0: 1 distinct values'
t_match exp_splits "$T_OUT" 'f-exp: 5 distinct values'
t_match off_one_value "$T_OUT" 'f-off: 1 distinct values'
t_done
