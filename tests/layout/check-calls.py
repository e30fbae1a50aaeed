#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Calls point one way: within a program or library, no source file calls a
file that calls it.

For each link unit (a meson target's object directory; 'a.p+b.p' for a
target and a static library it links whole) it reads the symbols
each object defines and the ones it leaves undefined (nm), draws an edge from
a file to every file of the same unit that defines what it uses, and fails on
any cycle. Calls through a table of function pointers are not edges: that is
how a lower layer calls back up."""
import os
import re
import subprocess
import sys


def nm(flags, objs):
    """{object: its symbols} for one nm run over every object (-A: each
    line starts with 'object:')."""
    out = subprocess.run(['nm', '-A'] + flags + objs, check=True,
                         capture_output=True, text=True).stdout
    syms = {o: set() for o in objs}
    for line in out.splitlines():
        if line.strip():
            obj, rest = line.rsplit(':', 1)
            syms[obj].add(rest.split()[-1])
    return syms


def source_name(obj):
    """meson names objects after their source path, '_' for '/'."""
    n = os.path.basename(obj)
    n = re.sub(r'\.(c|S)\.o$', '', n)
    n = n.replace('.._', '')
    return n


def cycles(edges):
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def main():
    build = sys.argv[1]
    units = sys.argv[2:]
    bad = 0
    for unit in units:
        objs = []
        for part in unit.split('+'):  # a target and what it links whole
            d = os.path.join(build, part)
            objs += [os.path.join(d, o) for o in os.listdir(d) if o.endswith('.o')]
        if not objs:
            print('%s: no objects (not built?)' % unit, file=sys.stderr)
            return 1
        defs = nm(['--defined-only', '-g'], objs)
        uses = nm(['-u'], objs)
        owner = {}
        for o, ds in defs.items():
            for s in ds:
                owner[s] = o
        edges = {o: {owner[s] for s in uses[o] if s in owner and owner[s] != o}
                 for o in objs}
        for comp in cycles(edges):
            bad = 1
            names = [source_name(o) for o in comp]
            print('%s: call cycle: %s' % (unit, ' <-> '.join(names)),
                  file=sys.stderr)
            for o in comp:
                for w in sorted(edges[o] & set(comp)):
                    via = sorted(s for s in uses[o] if owner.get(s) == w)[:3]
                    print('  %s -> %s (%s)' % (source_name(o), source_name(w),
                                               ', '.join(via)), file=sys.stderr)
    if not bad:
        print('no call cycle in %s' % ', '.join(units))
    return bad


if __name__ == '__main__':
    sys.exit(main())
