# tui.sh — what the tmux-driven dashboard suites (tests/tui/*.sh) share: a
# work directory $W, a private tmux server (TM), cleanup on exit, and the CDC
# relay and sink — the stack's own when it runs them, else ours, on our own
# slot and topic prefix so nothing else in the shared stack is touched.
# Usage (after tests/lib/t.sh): tui_setup TAG. Suites may set STOPPED_SINK to
# a pid cleanup must SIGCONT, and append to PIDS.

TM() { tmux -L "$SOCK" -f /dev/null "$@"; }

tui_cleanup() {
	[ -n "${STOPPED_SINK:-}" ] && kill -CONT "$STOPPED_SINK" 2>/dev/null
	TM kill-server 2>/dev/null
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
	[ -n "${OWN_SLOT:-}" ] && "$NB" cdc drop-slot --slot "$OWN_SLOT" >/dev/null 2>&1
	rm -rf "$W"
}

tui_setup() {
	local tag=$1 end
	W=$(mktemp -d "${NB_TEST_TMP:-/tmp}/$tag.XXXXXX")
	SOCK=nb$tag$$
	PIDS=()
	trap tui_cleanup EXIT
	"$NB" stack status --json 2>/dev/null | grep -q '"name": *"cdc"' && return 0
	OWN_SLOT=nb${tag}_$$
	export NEONBLUE_TOPIC_PREFIX=nb$tag$$
	"$NB" cdc --slot "$OWN_SLOT" --prefix "$NEONBLUE_TOPIC_PREFIX" \
		--quiet --status "$W/cdc.status" 2>"$W/cdc.log" &
	PIDS+=($!)
	"$NB" sink --prefix "$NEONBLUE_TOPIC_PREFIX" --group "nb$tag-sink-$$" --batch-ms 100 \
		--quiet --status "$W/sink.status" 2>"$W/sink.log" &
	PIDS+=($!)
	# seed only once the relay streams (rows written while it sets up its
	# slot could be missed by its snapshot)
	end=$((SECONDS + 30))
	until grep -q '"state": *"streaming' "$W/cdc.status" 2>/dev/null || [ $SECONDS -ge $end ]; do
		sleep 0.3
	done
}

# The pane of tmux session $1 as text.
tui_cap() { TM capture-pane -p -t "$1"; }
# tui_check NAME SESSION REGEX: passes NAME once the screen of SESSION matches
# REGEX (within 15 s), else fails with the screen.
tui_check() {
	local end=$((SECONDS + 15))
	while [ $SECONDS -lt $end ]; do
		tui_cap "$2" | grep -qE -- "$3" && { t_pass "$1"; return; }
		sleep 0.2
	done
	t_fail "$1" "screen does not match /$3/: $(tui_cap "$2" | head -n 30)"
}
