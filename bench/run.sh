#!/usr/bin/env bash
# run.sh — every benchmark, each reporting its figure against a baseline
# measured in the same run. Usage: bench/run.sh [PATTERN]
set -u
cd "$(dirname "$0")/.."
export NB=${NB:-$PWD/build/neonblue}
pat=${1:-}
status=0
for b in build/bench/bench_* bench/*.sh; do
	[ -e "$b" ] || continue
	[ "$(basename "$b")" = run.sh ] && continue
	[[ "$b" == *.d ]] && continue # make's dependency files
	[ -n "$pat" ] && [[ "$b" != *$pat* ]] && continue
	echo "== $(basename "$b")"
	if [[ "$b" == *.sh ]]; then bash "$b" || status=1; else "$b" || status=1; fi
done
exit $status
