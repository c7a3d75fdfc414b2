# dash_data.sh — the dashboard's data path, driven in tmux: the home view's
# statistics (computed in-process by the query worker) row by row against
# `neonblue report KEY --json`; the age of each row's statistics, also for
# rows off screen; a view of
# the analyses (cohorts) against `neonblue cohort --json`, and a bad flag
# refused in-process; the "Complete up to" line under the title of the
# cohort and detail views; Shift+column letter sorting (letters underlined
# in the header, also with --ascii and NO_COLOR; again reverses; keys bound
# to an action keep it; listed in the help overlay).
# needs: stack
. "$(dirname "$0")/../lib/t.sh"

. "$(dirname "$0")/../lib/tui.sh"
tui_setup dd

# ---- seed: two running experiments with users and conversions, one draft ----
P=dd$$
"$NB" metric create --key "${P}_buy" --kind binomial --events "${P}_buy" >/dev/null
"$NB" exp create --key "$P-a" --name "Data A" --variants control:50,treatment:50 \
	--metrics "${P}_buy:primary" >/dev/null
"$NB" exp create --key "$P-b" --name "Data B" --variants control:50,treatment:50 \
	--metrics "${P}_buy:primary" >/dev/null
"$NB" exp create --key "$P-c" --name "Data C" --variants control,treatment >/dev/null
"$NB" exp start "$P-a" >/dev/null
"$NB" exp start "$P-b" >/dev/null
seq 1 240 | sed "s/^/$P-a/" | "$NB" assign "$P-a" --users - >/dev/null
seq 1 90 | sed "s/^/$P-b/" | "$NB" assign "$P-b" --users - >/dev/null
# conversions: distinct users, so the binomial count is the number of events
{
	for i in $(seq 1 240); do [ $((i % 4)) -eq 0 ] || [ $((i % 7)) -eq 0 ] &&
		echo "{\"user_id\":\"$P-a$i\",\"type\":\"${P}_buy\",\"experiment\":\"$P-a\"}"; done
	for i in $(seq 1 90); do [ $((i % 3)) -eq 0 ] &&
		echo "{\"user_id\":\"$P-b$i\",\"type\":\"${P}_buy\",\"experiment\":\"$P-b\"}"; done
} >"$W/events.jsonl"
"$NB" ingest "$W/events.jsonl" >/dev/null
# more experiments than a 200×15 screen shows, each with users
for i in $(seq -w 1 13); do
	"$NB" exp create --key "${P}x-$i" --name "Many $i" --variants control,treatment \
		--metrics "${P}_buy:primary" >/dev/null
	"$NB" exp start "${P}x-$i" >/dev/null
	seq 1 8 | sed "s/^/${P}x$i-/" | "$NB" assign "${P}x-$i" --users - >/dev/null
done
want_a=$(grep -c "\"$P-a\"}" "$W/events.jsonl")
want_b=$(grep -c "\"$P-b\"}" "$W/events.jsonl")

start_dash() {
	local name=$1 cols=$2 rows=$3; shift 3
	local envs=()
	while [ $# -gt 0 ] && [ "$1" != "--" ]; do envs+=("$1"); shift; done
	shift
	TM new-session -d -s "$name" -x "$cols" -y "$rows" \
		"env TERM=xterm-256color ${envs[*]} $NB --actor tuitest dash --refresh 1 $* 2>$W/$name.err; echo EXITED \$?; sleep 600"
}
cap() { TM capture-pane -p -t "$1"; }
wait_for() {
	local end=$((SECONDS + ${3:-15}))
	while [ $SECONDS -lt $end ]; do
		cap "$1" | grep -qE -- "$2" && return 0
		sleep 0.2
	done
	return 1
}
check() {
	if wait_for "$2" "$3" "${4:-15}"; then t_pass "$1"; else
		t_fail "$1" "screen does not match /$3/: $(cap "$2" | head -n 30)"; fi
}
check_not() {
	if cap "$2" | grep -qE -- "$3"; then t_fail "$1" "screen matches /$3/: $(cap "$2")"; else t_pass "$1"; fi
}
keys() { TM send-keys -t "$@"; }
typed() { TM send-keys -t "$1" -l -- "$2"; }
# The underlined characters of the header row of the table (line 3), in
# order, upper-cased (the mark sits on the title's own letter: "p(se_q_)").
underlined() {
	TM capture-pane -e -p -t "$1" | sed -n 3p | python3 -c '
import re, sys
line = sys.stdin.read()
out, ul = [], False
for tok in re.findall(r"\x1b\[[0-9;]*m|[^\x1b]", line):
    if tok.startswith("\x1b"):
        codes = tok[2:-1].split(";") if tok[2:-1] else ["0"]
        for c in codes:
            if c in ("0", ""): ul = False
            elif c == "4": ul = True
            elif c == "24": ul = False
    elif ul and tok.strip():
        out.append(tok.upper())
print("".join(out))'
}

# python3 -c "$MARK_FOLLOWS" L < header line with escapes: exit 0 when the
# sort mark (▲▼^v) comes right after the title holding the underlined L.
MARK_FOLLOWS='
import re, sys
line, want = sys.stdin.read().rstrip("\n"), sys.argv[1]
chars, ul = [], False
for tok in re.findall(r"\x1b\[[0-9;]*m|[^\x1b]", line):
    if tok.startswith("\x1b"):
        for c in (tok[2:-1] or "0").split(";"):
            if c in ("0", "24"): ul = False
            elif c == "4": ul = True
    else:
        chars.append((tok, ul))
text = "".join(c for c, _ in chars)
at = [i for i, (c, u) in enumerate(chars) if u and c.upper() == want]
if len(at) != 1: sys.exit(1)
m = re.search(r"[▲▼]", text) or re.search(r"(?<=[A-Za-z0-9)])[v^](?= |$)", text)
sys.exit(0 if m and m.start() > at[0] and "  " not in text[at[0]:m.start()] else 1)'

# ---- the reports, once the sink has brought every conversion ----
report_ready() { # KEY WANT: the report counts WANT conversions
	"$NB" report "$1" --json >"$W/$1.json" 2>"$W/$1.err" &&
		python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); m=r["metrics"][0]; sys.exit(0 if sum(x["count"] for x in m["results"]) == int(sys.argv[2]) else 1)' "$W/$1.json" "$2"
}
end=$((SECONDS + 60))
until { report_ready "$P-a" "$want_a" && report_ready "$P-b" "$want_b"; } || [ $SECONDS -ge $end ]; do
	sleep 1
done
t_run report-a 0 "$NB" report "$P-a" --json
t_run report-b 0 "$NB" report "$P-b" --json
# The row the home view must show for a report, as a regular expression:
# key, status, age, users, users per variant, lift, interval, p (★ when
# < 0.05), sequential p, chance to win, SRM — formatted like the dashboard.
row_regex() {
	python3 - "$1" <<'EOF'
import json, re, sys
r = json.load(open(sys.argv[1]))
def pct(v, d): return f"{v * 100:,.{d}f}%"
def p(v): return "<0.0001" if v < 0.0001 else f"{v:.4f}"
users = [v["users"] for v in r["variants"]]
m = next(m for m in r["metrics"] if m["role"] == "primary")
best = max((x for x in m["results"] if x["lift"] is not None), key=lambda x: x["chance_to_win"])
ci = f"[{pct(best['lift_ci'][0], 1)}, {pct(best['lift_ci'][1], 1)}]"
star = "★" if best["p_value"] < 0.05 else ""
srm = "✗ !" if r["srm"]["mismatch"] else "ok"
parts = [r["experiment"], "running", "[0-9a-z]+", f"{sum(users):,}",
         "/".join(f"{u:,}" for u in users), pct(best["lift"], 1), re.escape(ci),
         re.escape(p(best["p_value"]) + star), re.escape(p(best["p_value_sequential"])),
         pct(best["chance_to_win"], 0), re.escape(srm)]
print("^" + " +".join(parts) + " ")
EOF
}
re_a=$(row_regex "$W/$P-a.json")
re_b=$(row_regex "$W/$P-b.json")
t_match report-a-has-lift "$re_a" "^\\^$P-a \\+running .*%"

# ---- the home view's numbers against the reports ----
start_dash big 200 50 -- --filter "$P-"
check home-loads big "^$P-a +running"
check home-a-matches-report big "$re_a" 30
check home-b-matches-report big "$re_b" 30
# every row with users has an age for its statistics; the draft has none
check home-updated-age big "^$P-a .* [0-9]+[sm]$"
check home-draft-no-stats big "^$P-c +draft +[0-9a-z]+ +0 +0/0 +– .*–$"
# the summary counts the listed rows with users (a, b; not the draft)
check home-stats-summary big "3 experiments .*stats 2/2 \(oldest [0-9]+[smhd]\)"

# ---- Shift+column letter ----
t_eq letters-underlined "$(underlined big)" "KSEUVLCPQWRFD"
# U: users, largest first (a 240, b 90, c 0); again: reversed
keys big U
check sort-letter-message big "sorted by Users \(descending\)"
check sort-letter-mark big "Users▼"
order=$(cap big | grep -oE "^$P-[abc]" | tr '\n' ' ')
t_eq sort-letter-users-desc "$order" "$P-a $P-b $P-c "
keys big U
check sort-letter-again-reverses big "Users▲"
order=$(cap big | grep -oE "^$P-[abc]" | tr '\n' ' ')
t_eq sort-letter-users-asc "$order" "$P-c $P-b $P-a "
# every underlined letter sorts by its own column: after Shift+letter the
# sort mark follows the header title that holds the underlined letter
ok=1
for l in K S E V L C P Q W R F D; do
	keys big "$l"
	sleep 0.4
	if ! TM capture-pane -e -p -t big | sed -n 3p | python3 -c "$MARK_FOLLOWS" "$l"; then
		ok=0
		echo "  letter $l: $(cap big | sed -n 3p)"
	fi
done
if [ $ok = 1 ]; then t_pass sort-every-letter; else t_fail sort-every-letter "see above"; fi
# K twice: key descending
keys big K
check sort-key-asc big "Key▲"
keys big K
check sort-key-desc big "Key▼"
order=$(cap big | grep -oE "^$P-[abc]" | tr '\n' ' ')
t_eq sort-key-desc-order "$order" "$P-c $P-b $P-a "
# uppercase keys bound to actions keep them: I reverses, G goes to the last row
keys big I
check bound-I-reverses big "Key▲"
keys big G Enter
check bound-G-last-row big "$P-c — Data C"
keys big Escape
# the help overlay lists Shift+letter with the letters
keys big '?'
check help-shift-letter big "Shift\+letter +sort by column, again: reverse"
check help-letters big "K Key +S Status +E Age"
keys big x
keys big q
check big-quits big "EXITED 0"

# ---- --ascii and NO_COLOR: the letters are still marked ----
start_dash plain 200 50 NO_COLOR=1 -- --ascii --filter "$P-"
check plain-loads plain "^$P-a +running"
t_eq letters-underlined-ascii-no-color "$(underlined plain)" "KSEUVLCPQWRFD"
keys plain L
check plain-sort-lift plain "Liftv"
keys plain q

# ---- a key bound to an action in the config file is not a sort letter ----
mkdir -p "$W/cfg/neonblue"
printf 'bind L refresh\n' >"$W/cfg/neonblue/dash.conf"
start_dash bound 200 50 "XDG_CONFIG_HOME=$W/cfg" -- --filter "$P-"
check bound-loads bound "^$P-a +running"
keys bound L
check bound-key-acts bound "refreshing"
check_not bound-key-no-sort bound "Lift▼"
keys bound q

# ---- rows off screen get their statistics too (13 rows, 10 on screen) ----
start_dash tiny 200 15 -- --filter "${P}x-"
check tiny-loads tiny "13 experiments"
check tiny-all-rows-stats tiny "stats 13/13" 30
keys tiny G
check tiny-last-row-numbers tiny "^${P}x-13 .* [0-9]+[sm] *$"
keys tiny q

# ---- an analysis computed in-process: cohorts against `neonblue cohort` ----
t_run cohort-json 0 "$NB" cohort "$P-a" --json
cre=$(printf '%s' "$T_OUT" | python3 -c '
import json, sys
r = json.load(sys.stdin)
c = next(c for c in r["cohorts"] if c["variant"] == "control")
print(f"^  {c[\"cohort\"][:10]} +{c[\"users\"]:,} +. +{round(c[\"rate\"][0] * 100)} ")')
start_dash cohort 120 30 -- --view cohorts --exp "$P-a"
check cohort-view cohort "cohort $P-a, data"
check cohort-matches-json cohort "$cre" 20
# the header says how complete the data is (docs/report.md, complete_up_to)
check cohort-complete-up-to cohort "Complete up to 20[0-9]{2}-[0-9]{2}-[0-9]{2} [0-9:]{8}Z \\([0-9]+[smhd] ago\\)"
# a bad flag is refused by the worker's own parser, with the flag named
keys cohort /
typed cohort "--period month"
keys cohort Enter
check cohort-bad-flag cohort "--period must be day or week, got \"month\""
keys cohort q q

start_dash detail 120 30 -- --view detail --exp "$P-a"
check detail-complete-up-to detail "Complete up to 20[0-9]{2}-[0-9]{2}-[0-9]{2} [0-9:]{8}Z \\([0-9]+[smhd] ago\\)"
keys detail q q

for s in big plain bound tiny cohort detail; do
	grep -q Sanitizer "$W/$s.err" 2>/dev/null && t_fail "$s-sanitizers" "$(head -30 "$W/$s.err")"
done
t_done
