# dash_exit.sh — the dashboard leaves promptly when its terminal goes away
# (the tmux server under it killed: the pty hung up) or on SIGTERM / SIGHUP,
# with its feed connected to Kafka and with a Kafka that does not answer; on
# a dead terminal it restores nothing (no error, no sanitizer report). A
# dashboard once left by a suite kept spinning for 2 hours and ignored
# SIGTERM (docs/dashboard.md, "Leaving").
# needs: stack
. "$(dirname "$0")/../lib/t.sh"

. "$(dirname "$0")/../lib/tui.sh"
tui_setup dx

# start_dash NAME [ENV…]: a dashboard on the live feed in tmux session NAME
start_dash() {
	local name=$1
	shift
	TM new-session -d -s "$name" -x 120 -y 30 \
		"env TERM=xterm-256color $* $NB --actor dx$$-$name dash --refresh 1 --view feed 2>$W/$name.err; echo EXITED \$?; sleep 600"
	tui_check "$name-up" "$name" "Live feed"
	DPID=$(pgrep -f -- "^$NB --actor dx$$-$name dash" | head -1)
}
# gone NAME: passes once the dashboard's process has left (within 10 s)
gone() {
	local end=$((SECONDS + 10)) t0=$SECONDS
	while [ $SECONDS -lt $end ] && kill -0 "$DPID" 2>/dev/null; do sleep 0.2; done
	if kill -0 "$DPID" 2>/dev/null; then
		t_fail "$1" "pid $DPID still runs 10 s later: $(ps -o pid,stat,pcpu,wchan:20 -p "$DPID" | tail -1)"
		kill -9 "$DPID" 2>/dev/null
	else
		t_pass "$1"
	fi
	if grep -q Sanitizer "$W/$2.err" 2>/dev/null; then
		t_fail "$1-no-sanitizer-report" "$(grep -m1 -A8 Sanitizer "$W/$2.err")"
	else t_pass "$1-no-sanitizer-report"; fi
}

# the terminal goes away under it: tmux's server killed (feed connected)
start_dash a
TM kill-server
gone kill-server-exits a

# SIGTERM with the feed connected: leaves cleanly (exit 0, on a live terminal)
start_dash b
kill -TERM "$DPID"
gone sigterm-exits b
tui_check sigterm-exit-0 b "EXITED 0"

# a Kafka that does not answer (the feed retrying): SIGHUP, then a dead terminal
start_dash c NEONBLUE_KAFKA=127.0.0.1:9
kill -HUP "$DPID"
gone sighup-kafka-down-exits c
start_dash d NEONBLUE_KAFKA=127.0.0.1:9
TM kill-server
gone kill-server-kafka-down-exits d

# a terminal nobody reads: tmux's server stopped, redraws (SIGWINCH) fill the
# pty until the dashboard's write blocks; SIGTERM cannot reach its loop
# there, the exit watchdog ends it (before it, it stayed blocked for good)
start_dash e NEONBLUE_KAFKA=127.0.0.1:9
SRV=$(TM display -p '#{pid}')
kill -STOP "$SRV"
for _ in $(seq 1 60); do kill -WINCH "$DPID"; sleep 0.05; done
sleep 1
kill -TERM "$DPID"
end=$((SECONDS + 20))
while [ $SECONDS -lt $end ] && kill -0 "$DPID" 2>/dev/null; do sleep 0.25; done
if kill -0 "$DPID" 2>/dev/null; then
	t_fail stuck-write-sigterm-exits "pid $DPID still runs 20 s after SIGTERM (in $(cat "/proc/$DPID/wchan" 2>/dev/null))"
	kill -9 "$DPID"
else t_pass stuck-write-sigterm-exits; fi
kill -CONT "$SRV"
t_done
