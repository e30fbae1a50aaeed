#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""librelive's public functions, taken from the headers in include/relive/.

  public-symbols.py map HEADER_DIR OUT   write the linker version script
  public-symbols.py check HEADER_DIR LIB compare with `nm -D --defined-only LIB`

A public function is one declared in a header there; everything else in
the library is hidden. The check exits 1 and names every difference.
"""
import pathlib
import re
import subprocess
import sys


def declared(header_dir):
    names = set()
    for h in sorted(pathlib.Path(header_dir).glob('*.h')):
        text = h.read_text()
        text = re.sub(r'/\*.*?\*/', ' ', text, flags=re.S)
        text = re.sub(r'//[^\n]*', ' ', text)
        text = re.sub(r'^\s*#(?:[^\n]*\\\n)*[^\n]*', ' ', text, flags=re.M)
        # a name followed by its parameter list ("(*name)(" is a pointer)
        for m in re.finditer(r'\b(rl_\w+)\s*\(', text):
            names.add(m.group(1))
    return names


def exported(lib):
    out = subprocess.run(['nm', '-D', '--defined-only', lib], check=True,
                         capture_output=True, text=True).stdout
    names = set()
    for line in out.splitlines():
        parts = line.split()
        # T/W/i: functions; data or version nodes are not functions
        if len(parts) == 3 and parts[1] in ('T', 'W', 'i'):
            names.add(parts[2].split('@')[0])
    return names


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in ('map', 'check'):
        sys.exit(__doc__)
    want = declared(sys.argv[2])
    if not want:
        sys.exit('public-symbols: no function declared in %s' % sys.argv[2])
    if sys.argv[1] == 'map':
        body = ''.join('    %s;\n' % n for n in sorted(want))
        pathlib.Path(sys.argv[3]).write_text(
            '/* Generated from include/relive/ by scripts/public-symbols.py */\n'
            '{\n  global:\n%s  local:\n    *;\n};\n' % body)
        return
    have = exported(sys.argv[3])
    ok = True
    for n in sorted(have - want):
        print('exported but not declared in %s: %s' % (sys.argv[2], n))
        ok = False
    for n in sorted(want - have):
        print('declared in %s but not exported: %s' % (sys.argv[2], n))
        ok = False
    print('%d public functions%s' % (len(want), '' if ok else ', mismatch'))
    sys.exit(0 if ok else 1)


main()
