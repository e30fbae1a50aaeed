#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""relive-holder.so in front of a real QEMU: a cpr-exec with the holder
preloaded completes through relive-trampoline --strays=refuse, the guest's
heartbeat moves again afterwards, the holder held the old address space
while the new QEMU started and was released (not bounded), and no zombie
or stray process is left. The test is its own subreaper, so the orphaned
holder comes to it. Skips (77) when no QEMU is found."""

import ctypes
import json
import lzma
import mmap
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

HOLDER_NAME = "relive-holder"
HOLDER_RELEASED = 0
PR_SET_CHILD_SUBREAPER = 36
RAM = 256 << 20
HEARTBEAT = 0x1000


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def qemu_source():
    """RELIVE_QEMU (a binary, or an .xz of one), else the shared copy."""
    src = os.environ.get("RELIVE_QEMU")
    if not src:
        root = os.environ.get("RELIVE_SOURCE_ROOT", ".")
        src = os.path.join(root, "..", "shared", "qemu-10.2.2", "qemu-system-x86_64.xz")
    return os.path.normpath(src)


def find_qemu(src, build_dir):
    if not os.path.exists(src):
        return None
    if not src.endswith(".xz"):
        return src
    dest = os.path.join(build_dir, "qemu-system-x86_64")
    if not os.path.exists(dest) or os.path.getmtime(dest) < os.path.getmtime(src):
        tmp = dest + ".tmp"
        with lzma.open(src) as fin, open(tmp, "wb") as fout:
            shutil.copyfileobj(fin, fout)
        os.chmod(tmp, 0o755)
        os.rename(tmp, dest)
    return dest


class QMP:
    """Just enough of QMP: commands in order, events skipped."""

    def __init__(self, path, timeout=30):
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX)
                self.sock.connect(path)
                break
            except OSError:
                self.sock.close()
                if time.monotonic() > deadline:
                    fail("no QMP on " + path)
                time.sleep(0.02)
        self.sock.settimeout(timeout)
        self.rfile = self.sock.makefile("r")
        json.loads(self.rfile.readline())  # greeting
        self.cmd("qmp_capabilities")

    def cmd(self, name, args=None):
        msg = {"execute": name}
        if args is not None:
            msg["arguments"] = args
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            line = self.rfile.readline()
            if not line:
                raise EOFError("QMP closed during " + name)
            reply = json.loads(line)
            if "return" in reply:
                return reply["return"]
            if "error" in reply:
                fail("%s: %s" % (name, reply["error"]))

    def close(self):
        self.rfile.close()
        self.sock.close()


def proc_stat(pid):
    """(comm, state, ppid) of @pid, or None when it is gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            s = f.read()
    except OSError:
        return None
    rest = s[s.rindex(")") + 2:].split()
    return s[s.index("(") + 1:s.rindex(")")], rest[0], int(rest[1])


def children(ppid):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            st = proc_stat(int(d))
            if st and st[2] == ppid:
                out.append((int(d),) + st)
    return out


def map_ram(pid):
    """Maps QEMU's RAM memfd read-only; the memfd is the same across the exec."""
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            link = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if link.startswith("/memfd:memory-backend-memfd") and \
                os.stat("/proc/%d/fd/%s" % (pid, fd)).st_size == RAM:
            f = os.open("/proc/%d/fd/%s" % (pid, fd), os.O_RDONLY)
            try:
                return mmap.mmap(f, 2 << 20, mmap.MAP_SHARED, mmap.PROT_READ)
            finally:
                os.close(f)
    fail("QEMU %d has no memfd of the RAM's size" % pid)


def heartbeat_moves(ram, within=10.0):
    first = struct.unpack_from("<Q", ram, HEARTBEAT)[0]
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if struct.unpack_from("<Q", ram, HEARTBEAT)[0] != first:
            return True
        time.sleep(0.01)
    return False


def main():
    build_dir = os.environ.get("RELIVE_BUILD_DIR", ".")
    holder_so = os.environ["RELIVE_HOLDER"]
    trampoline = os.environ["RELIVE_TRAMPOLINE"]
    bench = os.environ["RELIVE_BENCH"]
    qemu = find_qemu(qemu_source(), build_dir)
    if not qemu:
        print("SKIP: no QEMU at %s (set RELIVE_QEMU to a qemu-system-x86_64 or its .xz)"
              % qemu_source())
        return 77

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0):
        fail("PR_SET_CHILD_SUBREAPER: " + os.strerror(ctypes.get_errno()))

    work = tempfile.mkdtemp(prefix="relive-holder-qemu-")
    fw = os.path.join(work, "fw.bin")
    sock = os.path.join(work, "qmp.sock")
    state = os.path.join(work, "vm.state")
    subprocess.run([bench, "pause", "--write-firmware=" + fw], check=True)
    args = [qemu, "-nodefaults", "-machine", "pc,memory-backend=ram0,aux-ram-share=on",
            "-accel", "tcg", "-m", "%dM" % (RAM >> 20),
            "-object", "memory-backend-memfd,id=ram0,size=%dM,share=on,prealloc=on" % (RAM >> 20),
            "-bios", fw, "-display", "none", "-vga", "none", "-serial", "none",
            "-parallel", "none", "-global", "apic.vapic=off",
            "-qmp", "unix:%s,server=on,wait=off" % sock]
    env = dict(os.environ, LD_PRELOAD=holder_so, RELIVE_HOLDER_TIMEOUT_MS="120000")
    log = open(os.path.join(work, "qemu.log"), "w")
    vm = subprocess.Popen(args, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    try:
        qmp = QMP(sock)
        if not qmp.cmd("query-status")["running"]:
            fail("the guest does not run before the update")
        ram = map_ram(vm.pid)
        if not heartbeat_moves(ram):
            fail("no heartbeat before the update")
        if any(c[1] == HOLDER_NAME for c in children(os.getpid())):
            fail("a holder before any cpr-exec")

        cmd = [trampoline, "--strays=refuse", "--"] + args + ["-incoming", "file:" + state]
        qmp.cmd("migrate-set-parameters", {"mode": "cpr-exec", "cpr-exec-command": cmd})
        qmp.cmd("migrate", {"uri": "file:" + state})

        # The holder is made in the pause; it comes to us (a zombie if it is
        # already done, which the wait below tells apart).
        deadline = time.monotonic() + 30
        holder = None
        while holder is None:
            for c in children(os.getpid()):
                if c[1] == HOLDER_NAME:
                    holder = c
            if time.monotonic() > deadline:
                fail("no holder appeared after the cpr-exec")
            time.sleep(0.001)
        if holder[3] == vm.pid:
            fail("the holder is QEMU's child")

        deadline = time.monotonic() + 120
        while True:
            pid, status = os.waitpid(holder[0], os.WNOHANG)
            if pid:
                break
            if vm.poll() is not None:
                fail("QEMU exited during the update: %s" % open(log.name).read())
            if time.monotonic() > deadline:
                fail("the holder %d never let go" % holder[0])
            time.sleep(0.005)
        if not os.WIFEXITED(status) or os.WEXITSTATUS(status) != HOLDER_RELEASED:
            fail("holder status %#x, wanted exit %d (released)" % (status, HOLDER_RELEASED))

        try:
            qmp.close()
        except OSError:
            pass
        qmp = QMP(sock)
        st = qmp.cmd("query-status")
        if not st["running"]:
            fail("the guest does not run after the update: %s" % st)
        if not heartbeat_moves(ram):
            fail("no heartbeat after the update")
        kids = children(vm.pid)
        if kids:
            fail("QEMU has children after the update: %s" % kids)
        left = [c for c in children(os.getpid()) if c[0] != vm.pid]
        if left:
            fail("processes left behind: %s" % left)
        qmp.cmd("quit")
        vm.wait(30)
    finally:
        if vm.poll() is None:
            vm.send_signal(signal.SIGKILL)
            vm.wait()
        # Reap whatever came to us, so that nothing outlives the test.
        try:
            while os.waitpid(-1, os.WNOHANG)[0]:
                pass
        except ChildProcessError:
            pass
        shutil.rmtree(work, ignore_errors=True)
    print("ok - cpr-exec of QEMU with the holder preloaded, through the trampoline")
    return 0


if __name__ == "__main__":
    sys.exit(main())
