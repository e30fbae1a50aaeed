#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""relive-vm is linked statically: its ELF file asks for no dynamic loader
(no PT_INTERP) and needs no shared library (no DT_NEEDED), so a cpr-exec
update's new process starts without one (docs/vm.md, "One static binary").

Usage: static-binary.py RELIVE_VM SANITIZE
SANITIZE is meson's b_sanitize: a sanitizer build links dynamically (its
runtime is a shared library), and the test checks that it does.
"""
import struct
import sys

PT_INTERP, PT_DYNAMIC = 3, 2
DT_NULL, DT_NEEDED = 0, 1


def segments(data):
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        sys.exit(f"{sys.argv[1]}: not a 64-bit little-endian ELF file")
    phoff, = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    for i in range(phnum):
        p_type, _, p_offset, _, _, p_filesz = struct.unpack_from(
            "<IIQQQQ", data, phoff + i * phentsize)
        yield p_type, p_offset, p_filesz


def needed_count(data, offset, size):
    n = 0
    for at in range(offset, offset + size, 16):
        tag, _ = struct.unpack_from("<qQ", data, at)
        if tag == DT_NULL:
            break
        n += tag == DT_NEEDED
    return n


def main():
    path, sanitize = sys.argv[1], sys.argv[2]
    with open(path, "rb") as f:
        data = f.read()
    interp = needed = 0
    for p_type, off, size in segments(data):
        if p_type == PT_INTERP:
            interp = 1
        elif p_type == PT_DYNAMIC:
            needed = needed_count(data, off, size)
    if sanitize != "none":
        if not interp:
            sys.exit(f"{path}: a -Db_sanitize={sanitize} build should link dynamically")
        print(f"{path}: dynamic, as a sanitizer build must be")
        return
    if interp or needed:
        sys.exit(f"{path}: linked dynamically ({'PT_INTERP' if interp else ''}"
                 f"{', ' if interp and needed else ''}{f'{needed} DT_NEEDED' if needed else ''}): "
                 "every cpr-exec update would start it through the dynamic loader")
    print(f"{path}: static, no dynamic loader, no shared library")


main()
