# SPDX-License-Identifier: GPL-2.0-or-later
"""What the qemu suite's tests share: finding QEMU >= 10.2 and QEMU's Python
QMP client (skipping with exit 77 when either is missing), a private
temporary directory, starting QEMU with the heartbeat firmware, cpr-exec
updates through relive-trampoline, and guest RAM seen through /proc/PID/fd
(heartbeat and pattern, docs/guest.md)."""

import asyncio
import fcntl
import hashlib
import lzma
import mmap
import os
import re
import shutil
import signal
import stat
import struct
import subprocess
import sys
import tempfile
import time


SKIP = 77
TIMEOUT = 30.0          # seconds for anything that should take well under one
MIB = 1 << 20
PATTERN_AT = 64 * MIB   # guest RAM from 64 MiB up is free for tests (docs/guest.md)
PATTERN_SIZE = 8 * MIB
HEARTBEAT = 0x1000      # vCPU 0's counter
SHARED = os.path.join('..', 'shared', 'qemu-10.2.2')
QEMU_MIN = (10, 2)


class Failure(Exception):
    pass


START = time.monotonic()


def log(msg):
    print('[%6.2f s] %s' % (time.monotonic() - START, msg), flush=True)


def skip(msg):
    log('SKIP: ' + msg)
    sys.exit(SKIP)


def fail(msg):
    raise Failure(msg)


def check(cond, msg):
    if not cond:
        fail(msg)


def source_root():
    return os.environ['RELIVE_SOURCE_ROOT']


def shared_path(name):
    return os.path.normpath(os.path.join(source_root(), SHARED, name))


def qmp_client():
    """QEMU's qemu.qmp package: RELIVE_QEMU_PYTHON, else shared/'s copy."""
    path = os.environ.get('RELIVE_QEMU_PYTHON') or shared_path('python')
    if not os.path.isfile(os.path.join(path, 'qemu', 'qmp', '__init__.py')):
        skip('no QEMU Python QMP client: set RELIVE_QEMU_PYTHON to the folder '
             'holding qemu/qmp/ (looked in %s)' % path)
    sys.path.insert(0, path)
    import qemu.qmp
    return qemu.qmp


def _sha256(path):
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(MIB), b''):
            h.update(block)
    return h.hexdigest()


def _decompress_shared(xz, dest):
    """Decompresses shared/'s QEMU into the build directory once; every test
    that comes later (or at the same time, under the lock) reuses it."""
    with open(os.path.splitext(xz)[0] + '.sha256') as f:
        want = f.read().split()[0].lower()
    with open(dest + '.lock', 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.path.exists(dest) and _sha256(dest) == want:
            return
        tmp = dest + '.tmp'
        with lzma.open(xz) as src, open(tmp, 'wb') as out:
            shutil.copyfileobj(src, out, MIB)
        got = _sha256(tmp)
        if got != want:
            os.unlink(tmp)
            fail('%s decompresses to sha256 %s, its .sha256 says %s' % (xz, got, want))
        os.chmod(tmp, 0o755)
        os.rename(tmp, dest)


def find_qemu():
    """The QEMU binary to test: RELIVE_QEMU, else shared/'s build decompressed
    into the build directory. Skips when there is none or it is older than
    10.2; fails when RELIVE_QEMU names something that is not a program."""
    path = os.environ.get('RELIVE_QEMU')
    if path:
        check(os.access(path, os.X_OK), 'RELIVE_QEMU=%s is not an executable file' % path)
    else:
        xz = shared_path('qemu-system-x86_64.xz')
        if not os.path.isfile(xz):
            skip('no QEMU: set RELIVE_QEMU to a qemu-system-x86_64 >= 10.2 '
                 '(no %s either)' % xz)
        path = os.path.join(os.environ['RELIVE_QEMU_BUILD_DIR'], 'qemu-system-x86_64')
        _decompress_shared(xz, path)
    try:
        out = subprocess.run([path, '--version'], capture_output=True, text=True,
                             timeout=TIMEOUT)
    except OSError as e:
        skip('%s does not run: %s' % (path, e))
    m = re.search(r'version (\d+)\.(\d+)', out.stdout)
    if out.returncode != 0 or not m:
        skip('%s does not run (%s); scripts/deps.sh installs what it needs'
             % (path, (out.stderr or out.stdout).strip()))
    if (int(m.group(1)), int(m.group(2))) < QEMU_MIN:
        skip('%s is QEMU %s.%s; cpr-exec needs 10.2 or later'
             % (path, m.group(1), m.group(2)))
    return path


class TestDir:
    """A private directory under /tmp and the processes started in it, all
    killed and removed at the end."""

    def __init__(self):
        self.path = tempfile.mkdtemp(prefix='relive-qemu-')
        self.procs = []

    def join(self, name):
        return os.path.join(self.path, name)

    def spawn(self, argv, logname):
        logf = open(self.join(logname), 'ab')
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logf,
                             stderr=logf, close_fds=True)
        logf.close()
        self.procs.append(p)
        return p

    def read(self, name):
        try:
            with open(self.join(name), errors='replace') as f:
                return f.read()
        except FileNotFoundError:
            return ''

    def cleanup(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        shutil.rmtree(self.path, ignore_errors=True)


def firmware(d):
    """The heartbeat firmware QEMU boots (relive-bench writes it)."""
    path = d.join('fw.bin')
    subprocess.run([os.environ['RELIVE_BENCH'], 'pause', '--write-firmware=' + path],
                   check=True, timeout=TIMEOUT)
    return path


def link_binary(src, dest):
    """Another name for the same QEMU: /proc/PID/exe then tells which one runs."""
    try:
        os.link(src, dest)
    except OSError:
        shutil.copy2(src, dest)
    return dest


def backend_object(backend, ram_mib, d):
    size = '%dM' % ram_mib
    if backend == 'memfd':
        return 'memory-backend-memfd,id=ram0,size=%s,share=on' % size
    if backend == 'shm':
        return 'memory-backend-shm,id=ram0,size=%s,share=on' % size
    if backend == 'file':
        return 'memory-backend-file,id=ram0,size=%s,share=on,mem-path=%s' % (
            size, d.join('ram0'))
    fail('unknown backend ' + backend)


class Ram:
    """Guest RAM of a QEMU process, mapped shared through the fd its RAM
    block lives in: the regular file (memfd, shm or mem-path) of exactly the
    guest's RAM size."""

    def __init__(self, pid, size):
        self.size = size
        found = None
        for name in os.listdir('/proc/%d/fd' % pid):
            link = '/proc/%d/fd/%s' % (pid, name)
            try:
                st = os.stat(link)
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode) and st.st_size == size:
                found = link
                break
        check(found, 'QEMU (pid %d) has no fd of a %d-byte file: where is its RAM?'
              % (pid, size))
        fd = os.open(found, os.O_RDWR)
        try:
            st = os.fstat(fd)
            self.ident = (st.st_dev, st.st_ino)
            self.target = os.readlink(found)
            self.mem = mmap.mmap(fd, size, mmap.MAP_SHARED)
        finally:
            os.close(fd)

    def heartbeat(self):
        return struct.unpack_from('<Q', self.mem, HEARTBEAT)[0]

    def close(self):
        self.mem.close()


class Qemu:
    """One QEMU process (the pid survives every cpr-exec) with a QMP client."""

    def __init__(self, d, qemu, backend, ram_mib=128, name='vm'):
        self.d = d
        self.qmp_mod = qmp_client()
        self.backend = backend
        self.ram_size = ram_mib * MIB
        self.sock = d.join(name + '.sock')
        self.state = d.join(name + '.state')
        self.logname = name + '.log'
        self.binary = qemu
        self.args = ['-nodefaults', '-machine', 'pc,memory-backend=ram0,aux-ram-share=on',
                     '-accel', 'tcg', '-m', '%dM' % ram_mib,
                     '-object', backend_object(backend, ram_mib, d),
                     '-bios', firmware(d), '-display', 'none', '-vga', 'none',
                     '-serial', 'none', '-parallel', 'none', '-global', 'apic.vapic=off',
                     '-qmp', 'unix:%s,server=on,wait=off' % self.sock]
        self.proc = None
        self.qmp = None
        self.ram = None
        self.expected = None
        self.last_beat = 0

    def log(self):
        return self.d.read(self.logname)

    def exe(self):
        return os.readlink('/proc/%d/exe' % self.proc.pid)

    def incoming_args(self):
        return self.args + ['-incoming', 'file:' + self.state]

    async def start(self):
        self.proc = self.d.spawn([self.binary] + self.args, self.logname)
        await self.connect()
        await self.wait_running()
        self.ram = Ram(self.proc.pid, self.ram_size)

    async def connect(self):
        deadline = time.monotonic() + TIMEOUT
        while True:
            if self.proc.poll() is not None:
                fail('QEMU exited with status %d; its log:\n%s'
                     % (self.proc.returncode, self.log()))
            qmp = self.qmp_mod.QMPClient('relive-test')
            try:
                await qmp.connect(self.sock)
                self.qmp = qmp
                return
            except (self.qmp_mod.ConnectError, OSError):
                pass
            if time.monotonic() > deadline:
                fail('no QMP on %s after %.0f s; QEMU log:\n%s'
                     % (self.sock, TIMEOUT, self.log()))
            await asyncio.sleep(0.05)

    async def execute(self, cmd, args=None):
        return await asyncio.wait_for(self.qmp.execute(cmd, args), TIMEOUT)

    async def wait_running(self):
        deadline = time.monotonic() + TIMEOUT
        while True:
            st = await self.execute('query-status')
            if st['status'] == 'running' and st['running']:
                return
            if time.monotonic() > deadline:
                fail('query-status still says %s after %.0f s' % (st, TIMEOUT))
            await asyncio.sleep(0.05)

    def write_pattern(self):
        """Random bytes at 64 MiB, checked after each update."""
        self.expected = os.urandom(PATTERN_SIZE)
        self.ram.mem[PATTERN_AT:PATTERN_AT + PATTERN_SIZE] = self.expected

    def check_pattern(self):
        got = memoryview(self.ram.mem)[PATTERN_AT:PATTERN_AT + PATTERN_SIZE]
        same = got == self.expected
        got.release()
        if not same:
            got = self.ram.mem[PATTERN_AT:PATTERN_AT + PATTERN_SIZE]
            page = next(i for i in range(0, len(got), 4096)
                        if got[i:i + 4096] != self.expected[i:i + 4096])
            fail('guest RAM pattern differs in the page at guest-physical 0x%x'
                 % (PATTERN_AT + page))

    async def check_heartbeat(self):
        """The counter never goes back and moves on: the guest runs."""
        first = self.ram.heartbeat()
        check(first >= self.last_beat, 'heartbeat went back from %d to %d'
              % (self.last_beat, first))
        deadline = time.monotonic() + TIMEOUT
        while self.ram.heartbeat() <= first:
            if time.monotonic() > deadline:
                fail('heartbeat stands still at %d for %.0f s' % (first, TIMEOUT))
            await asyncio.sleep(0.02)
        self.last_beat = self.ram.heartbeat()

    async def wait_disconnected(self):
        """The exec closes QEMU's end of the QMP connection."""
        run = self.qmp_mod.Runstate.RUNNING
        deadline = time.monotonic() + TIMEOUT
        while self.qmp.runstate == run:
            left = deadline - time.monotonic()
            if left <= 0:
                fail('QMP connection still open %.0f s after migrate' % TIMEOUT)
            try:
                await asyncio.wait_for(self.qmp.runstate_changed(), left)
            except asyncio.TimeoutError:
                pass
        try:
            await self.qmp.disconnect()
        except Exception:  # the EOF that ended it is expected
            pass
        self.qmp = None

    async def cpr_exec(self, command):
        """Sets cpr-exec-command to @command and migrates; returns once QEMU
        has exec'd (its QMP connection closed)."""
        beat = self.ram.heartbeat()
        check(beat >= self.last_beat, 'heartbeat went back before the update')
        self.last_beat = beat
        self.ram.close()
        self.ram = None
        await self.execute('migrate-set-parameters',
                           {'mode': 'cpr-exec', 'cpr-exec-command': command})
        await self.execute('migrate', {'uri': 'file:' + self.state})
        await self.wait_disconnected()

    async def check_alive(self, binary):
        """After an update or a rollback: @binary runs in the same process,
        answers QMP, is running, has the same RAM with the pattern intact and
        a heartbeat that advances."""
        await self.connect()
        await self.wait_running()
        check(self.exe() == binary, 'QEMU (pid %d) runs %s, expected %s'
              % (self.proc.pid, self.exe(), binary))
        ram = Ram(self.proc.pid, self.ram_size)
        check(ram.ident == self.ident, 'RAM is %s now, was another file before'
              % ram.target)
        self.ram = ram
        self.check_pattern()
        await self.check_heartbeat()
        st = await self.execute('query-status')
        check(st['status'] == 'running', 'query-status: %s' % st)

    async def prepare(self):
        """Before the first update: pattern, heartbeat, RAM identity."""
        self.ident = self.ram.ident
        self.write_pattern()
        await self.check_heartbeat()

    async def wait_exit(self):
        deadline = time.monotonic() + TIMEOUT
        while self.proc.poll() is None:
            if time.monotonic() > deadline:
                fail('QEMU (pid %d) still runs %.0f s after the failed update; log:\n%s'
                     % (self.proc.pid, TIMEOUT, self.log()))
            await asyncio.sleep(0.05)
        return self.proc.returncode

    async def quit(self):
        if self.qmp:
            try:
                await self.execute('quit')
                await self.qmp.disconnect()
            except Exception:
                pass
        if self.ram:
            self.ram.close()
        if self.proc and self.proc.poll() is None:
            try:
                self.proc.wait(TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def run(cases, argv):
    """Runs the case named argv[1] (an async function taking a TestDir) and
    exits 0, 1 (failure, with its message) or 77 (skip)."""
    if len(argv) != 2 or argv[1] not in cases:
        log('usage: %s CASE (one of: %s)' % (argv[0], ', '.join(cases)))
        sys.exit(2)
    d = TestDir()
    try:
        asyncio.run(cases[argv[1]](d))
    except Failure as e:
        log('FAIL: %s' % e)
        sys.exit(1)
    finally:
        d.cleanup()
    log('ok: ' + argv[1])
