# stack.sh — the embedded stack a benchmark uses: $NEONBLUE_HOME's when one is
# up, else one started in $W/stack (W: the bench's temp dir). Source it, then
# bench_stack_up; HOME_DIR is the stack's home afterwards, and
# bench_stack_down stops the stack only when bench_stack_up started it.
bench_stack_up() {
	own_stack=
	if [ -n "${NEONBLUE_HOME:-}" ] && [ -f "$NEONBLUE_HOME/stack.env" ] &&
		"$NB" stack status --home "$NEONBLUE_HOME" >/dev/null 2>&1; then
		HOME_DIR=$NEONBLUE_HOME
	else
		HOME_DIR=$W/stack
		own_stack=1
		"$NB" stack up --home "$HOME_DIR" >"$W/stack.log" 2>&1 || { cat "$W/stack.log"; return 1; }
	fi
}
bench_stack_down() {
	[ -n "${own_stack:-}" ] && "$NB" stack down --home "$HOME_DIR" >/dev/null 2>&1
	return 0
}
