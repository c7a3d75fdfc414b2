# dash_flags.sh — the Flags view (docs/dashboard.md, view 0): the flags with
# state, type, rollout percentage and rule kinds against `flag show --json`;
# the selected flag's rules; `o` turns a flag off behind a confirmation
# (n leaves it on, y turns it off in PostgreSQL, audited with the dashboard's
# actor) and on again; with --read-only the switch is refused and nothing
# changes.
# needs: stack
. "$(dirname "$0")/../lib/t.sh"

. "$(dirname "$0")/../lib/tui.sh"
tui_setup df

P=df$$
t_run flag-a 0 "$NB" flag create "${P}a" --on --description "dash flag" \
	--rule '{"type":"force","condition":{"country":"NL"},"value":true}' \
	--rule '{"type":"rollout","coverage":0.25,"value":true}'
t_run flag-b 0 "$NB" flag create "${P}b" --type string --default blue
t_run show-a 0 "$NB" flag show "${P}a" --json
t_match show-a-enabled "$T_OUT" '"enabled": *true'

start_dash() {
	local name=$1; shift
	TM new-session -d -s "$name" -x 140 -y 30 \
		"env TERM=xterm-256color $NB --actor tuitest dash --refresh 1 $* 2>$W/$name.err; echo EXITED \$?; sleep 600"
}
cap() { tui_cap "$@"; }
check() { tui_check "$@"; }
enabled() { "$NB" flag show "$1" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["enabled"])'; }

start_dash a --ascii --view flags --filter "$P"
check row-a a "${P}a +on +boolean +25% +force, rollout +false"
check row-b a "${P}b +OFF +string +- +none +\"blue\""
TM send-keys -t a "/" && TM send-keys -t a "${P}a" Enter
check rules-head a "^${P}a  on: the first rule that applies decides, else the default false  .* dash flag"
check rules-force a '^ 1\. force  if \{"country":"NL"\}  -> true|^ 1\. force  if \{"country":"NL"\}  → true'
check rules-rollout a '^ 2\. rollout 25\.0% by id  if everyone'
TM send-keys -t a o
check confirm a "Turn flag ${P}a OFF\? Every rule stops at once"
TM send-keys -t a n
sleep 1
t_eq declined-stays-on "$(enabled "${P}a")" True
TM send-keys -t a o
check confirm-again a "Turn flag ${P}a OFF"
TM send-keys -t a y
check turned-off a "${P}a +OFF"
t_eq off-in-pg "$(enabled "${P}a")" False
t_run history 0 "$NB" flag history "${P}a" --json
t_match history-actor "$T_OUT" '"actor": *"tuitest"'
TM send-keys -t a o
check confirm-on a "Turn flag ${P}a ON\? Its 2 rules apply again"
TM send-keys -t a y
check turned-on a "${P}a +on"
t_eq on-in-pg "$(enabled "${P}a")" True
TM send-keys -t a '?'
check help-toggle a "turn the flag on / off"
TM send-keys -t a q q q
check a-quits a "EXITED 0"

start_dash r --ascii --read-only --view flags --filter "$P"
check ro-row r "${P}a +on"
TM send-keys -t r o
check ro-refused r "read-only: toggle is disabled"
sleep 1
t_eq ro-still-on "$(enabled "${P}a")" True
TM send-keys -t r q q
check r-quits r "EXITED 0"

for s in a r; do
	grep -q Sanitizer "$W/$s.err" 2>/dev/null && t_fail "$s-sanitizers" "$(head -30 "$W/$s.err")"
done
t_done
