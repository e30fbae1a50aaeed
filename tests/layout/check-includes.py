#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Headers stay in their layer: a file includes headers of its own top-level
folder and of the folders below it (docs/architecture.md), nothing else.

Each #include "..." (and <...> that names a file of the tree) is resolved
the way the compiler finds it: next to the including file first, then
through the include directories the builds use. The file it lands on must
be in a folder (or be a header) the including folder may use."""
import os
import re
import sys

# Include directories the builds pass (meson.build's inc; vm/'s vm_inc).
SEARCH = ['include', 'migration']
SEARCH_OF = {'vm': ['vm']}

# What each folder may include besides its own files: folders ('io') or
# single headers ('migration/cpr-internal.h').
MAY_INCLUDE = {
    'include': [],
    'io': ['include'],
    'migration': ['include', 'io'],
    'trampoline': ['include', 'migration/cpr-internal.h'],
    'holder': [],
    'vm': ['include'],
    'bench': ['include'],
}
# Fault injection (-Dfault_injection=true) reaches into every layer.
EVERYWHERE = ['migration/failpoint.h']

INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]', re.M)


def resolve(root, src, quote, name):
    folder = src.split('/')[0]
    dirs = [os.path.dirname(src)] if quote == '"' else []
    dirs += SEARCH_OF.get(folder, []) + SEARCH
    for d in dirs:
        p = os.path.normpath(os.path.join(d, name))
        if os.path.isfile(os.path.join(root, p)):
            return p
    return None  # a system header


def allowed(folder, header):
    if header.split('/')[0] == folder or header in EVERYWHERE:
        return True
    for a in MAY_INCLUDE[folder]:
        if header == a or header.startswith(a + '/'):
            return True
    return False


def main():
    root = sys.argv[1]
    bad = 0
    for folder in sorted(MAY_INCLUDE):
        for dirpath, _, files in sorted(os.walk(os.path.join(root, folder))):
            for f in sorted(files):
                if not f.endswith(('.c', '.h', '.S')):
                    continue
                src = os.path.relpath(os.path.join(dirpath, f), root)
                with open(os.path.join(root, src), encoding='utf-8') as fh:
                    text = fh.read()
                for m in INCLUDE.finditer(text):
                    h = resolve(root, src, m.group(1), m.group(2))
                    if h and not allowed(folder, h):
                        line = text.count('\n', 0, m.start()) + 1
                        print('%s:%d: includes %s: %s/ may include %s' %
                              (src, line, h, folder,
                               ', '.join(MAY_INCLUDE[folder] + EVERYWHERE)
                               or 'only its own headers'),
                              file=sys.stderr)
                        bad = 1
    if not bad:
        print('every include stays in its layer (%s)' %
              ', '.join(sorted(MAY_INCLUDE)))
    return bad


if __name__ == '__main__':
    sys.exit(main())
