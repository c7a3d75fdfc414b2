# dash_layer.sh — the detail view's layer line (docs/dashboard.md): an
# experiment's layer, range and holdout, the layer's occupancy bar (its own
# range, the other live experiments', free space) against `layer show
# --json`, and "Layer: none" for an experiment outside any layer.
# needs: stack
. "$(dirname "$0")/../lib/t.sh"

. "$(dirname "$0")/../lib/tui.sh"
tui_setup dl

P=dl$$
L=${P}_ly
H=${P}_ho
"$NB" layer create "$L" --name "Dash layer" >/dev/null
"$NB" holdout create "$H" --percent 5 >/dev/null
t_run exp-a 0 "$NB" exp create --key "$P-a" --variants control:50,b:50 --namespace "$L:0:0.5" --holdout "$H"
t_run exp-b 0 "$NB" exp create --key "$P-b" --variants control:50,b:50 --namespace "$L:0.5:0.75"
t_run exp-c 0 "$NB" exp create --key "$P-c" --variants control:50,b:50
t_run layer-json 0 "$NB" layer show "$L" --json
t_match layer-json-occupied "$T_OUT" '"occupied": *0.75'

start_dash() {
	local name=$1; shift
	TM new-session -d -s "$name" -x 120 -y 30 \
		"env TERM=xterm-256color $NB --actor tuitest dash --refresh 1 $* 2>$W/$name.err; echo EXITED \$?; sleep 600"
}
cap() { tui_cap "$@"; }
check() { tui_check "$@"; }

# 50 cells: [0, 0.5) ours (25), [0.5, 0.75) the other's (12: a cell is the
# range holding its middle), the rest free (13)
start_dash a --ascii --view detail --exp "$P-a"
check detail-layer-line a "^Layer: $L \[0, 0\.5\)   Holdout: $H"
check detail-layer-bar a "^  \|#{25}={12}\.{13}\| 25% free"
check detail-layer-legend a "\*$P-a \[0, 0\.5\)  $P-b \[0\.5, 0\.75\)"
TM send-keys -t a q q
check a-quits a "EXITED 0"

start_dash b --view detail --exp "$P-b"
check detail-layer-bar-unicode b "^  \|▒{25}█{12}·{13}\| 25% free"
TM send-keys -t b q q

start_dash c --view detail --exp "$P-c"
check detail-no-layer c "^Layer: none   Holdout: none"
TM send-keys -t c q q

for s in a b c; do
	grep -q Sanitizer "$W/$s.err" 2>/dev/null && t_fail "$s-sanitizers" "$(head -30 "$W/$s.err")"
done
t_done
