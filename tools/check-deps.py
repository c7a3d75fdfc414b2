#!/usr/bin/env python3
"""check-deps — keeps the plan of docs/architecture.md true.

Modules are the folders of core/ plus cli/ and tui/. A module may include the
public header of, and call into, only itself and the modules ALLOWED names
below (the dependency rule, lowest first). Checked:
  1. includes: every #include "..." in core/, cli/, tui/ and include/neonblue/;
     a private header (quoted, not neonblue/) must sit in the includer's folder;
  2. calls: every undefined symbol of an object file in OBJDIR resolved to the
     object that defines it (nm), module to module;
  3. no circles between files: the file-level call graph has no cycle.
Exit status 1 and one line per violation naming the file and the symbol.
Usage: tools/check-deps.py [OBJDIR]   (CHECK_DEPS_ROOT: another source tree)"""
import os, re, subprocess, sys

ROOT = os.environ.get('CHECK_DEPS_ROOT') or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OBJDIR = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, 'build/obj')

# module -> modules it may use (transitively closed below)
ALLOWED = {
    'base': [],
    'sql': [],                       # the migrations (data) and their table
    'assign': ['base'],
    'stats': ['base'],
    'kafka': ['base'],
    'ch': ['base', 'sql'],
    'front': ['base'],
    'pg': ['base', 'assign', 'sql'],
    'cdc': ['base', 'kafka', 'pg', 'ch'],
    'sink': ['base', 'kafka', 'ch', 'cdc'],
    'analytics': ['base', 'ch'],
    'report': ['base', 'assign', 'analytics', 'stats'],
    'sim': ['base', 'assign', 'pg'],
    'flag': ['base', 'assign', 'pg'],
    'stack': ['base', 'kafka', 'ch', 'pg', 'cdc', 'sink', 'sim'],
    'tui': ['base', 'front', 'assign', 'stats', 'kafka', 'ch', 'pg', 'cdc', 'sink',
            'analytics', 'report', 'sim', 'stack', 'flag'],
    'serve': ['base', 'front', 'assign', 'stats', 'kafka', 'ch', 'pg', 'cdc', 'sink',
              'analytics', 'report', 'sim', 'stack', 'flag'],
    'cli': ['base', 'front', 'assign', 'stats', 'kafka', 'ch', 'pg', 'cdc', 'sink',
            'analytics', 'report', 'sim', 'stack', 'flag', 'tui', 'serve'],
}
# A symbol defined on purpose to interpose libc for the whole process: calls to
# it from other files are calls to libc, not into the defining file.
INTERPOSED = {'bind': 'stack/mock_kafka.c: the mock cluster on fixed ports'}

def closure():
    out = {}
    for m in ALLOWED:
        seen, todo = set(), list(ALLOWED[m])
        while todo:
            x = todo.pop()
            if x not in seen:
                seen.add(x)
                todo += ALLOWED[x]
        out[m] = seen | {m}
    return out

OK = closure()
bad = []

def module_of(rel):
    p = rel.split('/')
    if p[0] == 'core':
        return p[1] if len(p) > 2 else None
    if p[0] in ('cli', 'tui', 'serve'):
        return p[0]
    if p[0] == 'gen':          # build/obj/gen/sql_embed.o
        return 'sql'
    if rel.startswith('include/neonblue/'):
        return os.path.splitext(p[2])[0]
    return None

# ---- 1. includes ----
INC = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
for top in ('core', 'cli', 'tui', 'serve', 'include/neonblue'):
    for d, _, fs in os.walk(os.path.join(ROOT, top)):
        for f in fs:
            if not f.endswith(('.c', '.h', '.def')):
                continue
            path = os.path.join(d, f)
            rel = os.path.relpath(path, ROOT)
            m = module_of(rel)
            if m not in OK:
                bad.append('%s: not in a module of the plan (tools/check-deps.py ALLOWED)' % rel)
                continue
            text = open(path, encoding='utf-8').read()
            for lineno, inc in ((text.count('\n', 0, x.start()) + 1, x.group(1)) for x in INC.finditer(text)):
                if inc.startswith('neonblue/'):
                    t = os.path.splitext(inc[len('neonblue/'):])[0]
                    if t not in OK:
                        bad.append('%s:%d: includes %s, which is no module' % (rel, lineno, inc))
                    elif t not in OK[m]:
                        bad.append('%s:%d: %s includes %s (%s may not depend on %s)' % (rel, lineno, m, inc, m, t))
                    continue
                target = os.path.normpath(os.path.join(d, inc))
                trel = os.path.relpath(target, ROOT)
                tm = module_of(trel)
                if os.path.dirname(target) == d:
                    continue
                if tm == 'sql' and 'sql' in OK[m]:
                    continue
                bad.append('%s:%d: includes "%s", a private header of %s' % (rel, lineno, inc, tm or os.path.dirname(trel)))

# ---- 2. and 3. calls ----
objs = []
for d, _, fs in os.walk(OBJDIR):
    for f in fs:
        if not f.endswith('.o'):
            continue
        rel = os.path.relpath(os.path.join(d, f), OBJDIR)
        # objects of sources that no longer exist (a stale build) do not count
        if rel.startswith('gen/') or os.path.exists(os.path.join(ROOT, rel[:-2] + '.c')):
            objs.append(os.path.join(d, f))
if not objs:
    sys.exit('check-deps: no object files under %s (build first)' % OBJDIR)
defs, undefs = {}, {}
for o in objs:
    rel = os.path.relpath(o, OBJDIR)
    src = re.sub(r'\.o$', '.c', rel)
    out = subprocess.run(['nm', '-P', o], capture_output=True, text=True, check=True).stdout
    u = set()
    for ln in out.splitlines():
        parts = ln.split()
        if len(parts) < 2:
            continue
        sym, kind = parts[0], parts[1]
        if kind == 'U':
            u.add(sym)
        elif kind in 'TDBRVWCG':
            defs.setdefault(sym, src)
    undefs[src] = u
graph = {s: set() for s in undefs}
for src, us in undefs.items():
    m = module_of(src)
    for sym in sorted(us):
        dst = defs.get(sym)
        if not dst or dst == src or sym in INTERPOSED:
            continue
        dm = module_of(dst)
        graph[src].add(dst)
        if m in OK and dm not in OK[m]:
            bad.append('%s: calls %s of %s (%s may not depend on %s)' % (src, sym, dst, m, dm))

# Tarjan's strongly connected components over files
idx, low, on, st, sccs, n = {}, {}, set(), [], [], [0]
sys.setrecursionlimit(10000)
def visit(v):
    idx[v] = low[v] = n[0]; n[0] += 1; st.append(v); on.add(v)
    for w in graph[v]:
        if w not in idx:
            visit(w); low[v] = min(low[v], low[w])
        elif w in on:
            low[v] = min(low[v], idx[w])
    if low[v] == idx[v]:
        c = []
        while True:
            w = st.pop(); on.discard(w); c.append(w)
            if w == v:
                break
        if len(c) > 1:
            sccs.append(sorted(c))
for v in sorted(graph):
    if v not in idx:
        visit(v)
for c in sccs:
    edges = []
    for a in c:
        for b in sorted(graph[a] & set(c)):
            syms = sorted(s for s in undefs[a] if defs.get(s) == b and s not in INTERPOSED)
            edges.append('%s -> %s (%s)' % (a, b, ', '.join(syms[:3]) + (' ...' if len(syms) > 3 else '')))
    bad.append('files call each other in a circle: ' + '; '.join(edges))

for b in bad:
    print('check-deps: ' + b)
print('check-deps: %d files, %d objects, %d violations' % (
    sum(1 for t in ('core', 'cli', 'tui', 'serve') for _, _, fs in os.walk(os.path.join(ROOT, t)) for f in fs if f.endswith('.c')),
    len(objs), len(bad)))
sys.exit(1 if bad else 0)
