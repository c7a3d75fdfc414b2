# experiment.sh — the benches' experiment "bench": control and treatment at 50/50 and
# three metrics (conv: binomial on purchase; revenue: sum winsorised at 99;
# ctr: ratio click/view), written with SQL into database DB.
# Usage: bench_experiment DB CMD [ARGS...] — CMD ARGS SQL runs each statement.
bench_experiment() {
	local db=$1 s
	shift
	while IFS= read -r s; do
		"$@" "${s//@DB@/$db}" || return 1
	done <<'EOF'
INSERT INTO @DB@.experiments (key, name, status, seed, hash_version, coverage, owner, created_at, updated_at, version, _version, _deleted) VALUES ('bench', 'bench', 'running', 'bench', 2, 1, '', now(), now(), 1, 1, 0)
INSERT INTO @DB@.variants (experiment, key, name, weight, is_control, config, position, _version, _deleted) VALUES ('bench', 'control', 'control', 0.5, 1, '{}', 0, 1, 0), ('bench', 'treatment', 'treatment', 0.5, 0, '{}', 1, 1, 0)
INSERT INTO @DB@.metrics (key, name, kind, event_types, value_property, direction, winsorize, description, created_at, updated_at, _version, _deleted) VALUES ('conv', 'conv', 'binomial', ['purchase'], NULL, 'increase', NULL, '', now(), now(), 1, 0), ('revenue', 'revenue', 'sum', ['purchase'], NULL, 'increase', 99, '', now(), now(), 1, 0), ('ctr', 'ctr', 'ratio', ['click', 'view'], NULL, 'increase', NULL, '', now(), now(), 1, 0)
INSERT INTO @DB@.experiment_metrics (experiment, metric, role, position, _version, _deleted) VALUES ('bench', 'conv', 'primary', 0, 1, 0), ('bench', 'revenue', 'guardrail', 1, 1, 0), ('bench', 'ctr', 'secondary', 2, 1, 0)
EOF
}
