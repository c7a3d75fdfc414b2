# deps.sh — `make check-deps` (tools/check-deps.py): the tree keeps the
# dependency rule of docs/architecture.md, and the checker catches a crossing
# include, a crossing call, a private header used from another folder and a
# circle of calls between files.
source "$NB_ROOT/tests/lib/t.sh"
cd "$NB_ROOT"

t_run tree_follows_the_rule 0 tools/check-deps.py build/obj
t_match tree_summary "$T_OUT" 'check-deps: [0-9]+ files, [0-9]+ objects, 0 violations'

# A small tree with every kind of violation, compiled for real.
tmp=$(mktemp -d)
mkdir -p "$tmp"/core/base "$tmp"/core/stack "$tmp"/core/pg "$tmp"/include/neonblue "$tmp"/obj/core/base "$tmp"/obj/core/stack "$tmp"/obj/core/pg
echo 'int nb_stack_thing(void);' >"$tmp"/include/neonblue/stack.h
echo 'int pg_private(void);' >"$tmp"/core/pg/internal.h
cat >"$tmp"/core/stack/stack.c <<'C'
int nb_stack_thing(void) { return 1; }
C
cat >"$tmp"/core/base/up.c <<'C'
#include "neonblue/stack.h"
int base_up(void) { return nb_stack_thing(); }
C
cat >"$tmp"/core/base/ping.c <<'C'
int base_pong(void);
int base_ping(int n) { return n ? base_pong() : 0; }
C
cat >"$tmp"/core/base/pong.c <<'C'
#include "../pg/internal.h"
int base_ping(int n);
int base_pong(void) { return base_ping(0); }
C
ok=1
for f in stack/stack base/up base/ping base/pong; do
	cc -c -I"$tmp"/include "$tmp"/core/$f.c -o "$tmp"/obj/core/$f.o || ok=0
done
t_eq fixture_compiles "$ok" 1
t_run crossings_fail 1 env CHECK_DEPS_ROOT="$tmp" tools/check-deps.py "$tmp"/obj
t_match names_crossing_include "$T_OUT" 'core/base/up.c:1: base includes neonblue/stack.h \(base may not depend on stack\)'
t_match names_crossing_call "$T_OUT" 'core/base/up.c: calls nb_stack_thing of core/stack/stack.c \(base may not depend on stack\)'
t_match names_private_header "$T_OUT" 'core/base/pong.c:1: includes "../pg/internal.h", a private header of pg'
t_match names_circle "$T_OUT" 'files call each other in a circle: core/base/ping.c -> core/base/pong.c \(base_pong\); core/base/pong.c -> core/base/ping.c \(base_ping\)'
t_match counts_violations "$T_OUT" '4 violations'
rm -rf "$tmp"
t_done
