# SPDX-License-Identifier: GPL-2.0-or-later
"""QEMU's cpr-exec through relive-trampoline, with a real QEMU (>= 10.2)
under TCG booting the heartbeat firmware. Usage: test-cpr-exec.py CASE."""

import os
import shutil
import sys

import qemutest as qt

UPDATES = 3


def trampoline(*opts):
    return [os.environ['RELIVE_TRAMPOLINE']] + list(opts)


def new_binary(d, qemu):
    return os.path.realpath(qt.link_binary(qemu, d.join('qemu-system-x86_64-new')))


async def updates(d, backend):
    """Three updates, alternating between two names of QEMU so that each one
    shows in /proc/PID/exe; the guest runs on after each."""
    old = qt.find_qemu()
    new = new_binary(d, old)
    vm = qt.Qemu(d, old, backend)
    await vm.start()
    await vm.prepare()
    pid = vm.proc.pid
    binaries = [new, os.path.realpath(old)]
    for i in range(UPDATES):
        target = binaries[i % 2]
        await vm.cpr_exec(trampoline('--', target) + vm.incoming_args())
        await vm.check_alive(target)
        qt.check(vm.proc.pid == pid, 'QEMU pid changed')
        qt.log('update %d: %s runs, heartbeat %d' % (i + 1, target, vm.last_beat))
    if backend == 'file':
        # QEMU 10.2 leaks the file backend's fd into the command.
        qt.check('stray fd' in vm.log() and 'closed' in vm.log(),
                 'the trampoline did not name the leaked fd; log:\n' + vm.log())
    await vm.quit()


async def update_memfd(d):
    await updates(d, 'memfd')


async def update_shm(d):
    await updates(d, 'shm')


async def update_file(d):
    await updates(d, 'file')


async def rolls_back(d, backend, command, says, new=None):
    """One update that the trampoline refuses: it names the failure, rolls
    back to the old QEMU, and the guest runs on there."""
    old = qt.find_qemu()
    new = new or new_binary(d, old)
    vm = qt.Qemu(d, old, backend)
    await vm.start()
    await vm.prepare()
    cmd = command(old, new, vm)
    await vm.cpr_exec(cmd)
    await vm.check_alive(os.path.realpath(old))
    out = vm.log()
    for s in says + ['rolling back']:
        qt.check(s in out, 'the log does not say "%s":\n%s' % (s, out))
    qt.log('rolled back to %s, heartbeat %d' % (old, vm.last_beat))
    await vm.quit()


async def rollback_stray(d):
    await rolls_back(d, 'file', lambda old, new, vm:
                     trampoline('--strays=refuse', '--rollback-to=' + old, '--', new)
                     + vm.incoming_args(),
                     ['stray fd', d.join('ram0'), 'refused'])


# Closes the fd numbered argv[1], then execs argv[2:]: a cpr-exec-command
# that loses one of QEMU's preserved fds on the way to the trampoline.
CLOSE_AND_EXEC = 'import os, sys; os.close(int(sys.argv[1])); os.execv(sys.argv[2], sys.argv[2:])'


def fd_of(pid, target):
    for name in os.listdir('/proc/%d/fd' % pid):
        try:
            if os.readlink('/proc/%d/fd/%s' % (pid, name)) == target:
                return int(name)
        except OSError:
            pass
    qt.fail('QEMU (pid %d) has no fd -> %s' % (pid, target))


async def rollback_fd_missing(d):
    """A preserved fd lost before the trampoline: it names the fd, never
    execs NEW and rolls back to OLD. The old QEMU needs that fd as much as
    the new one, so it cannot take the guest back either and exits: with
    QEMU this class of failure is caught, but not survived."""
    old = qt.find_qemu()
    new = new_binary(d, old)
    vm = qt.Qemu(d, old, 'memfd')
    await vm.start()
    await vm.prepare()
    fd = fd_of(vm.proc.pid, '/memfd:pc.rom (deleted)')
    await vm.cpr_exec([sys.executable, '-c', CLOSE_AND_EXEC, str(fd)]
                      + trampoline('--rollback-to=' + old, '--', new) + vm.incoming_args())
    code = await vm.wait_exit()
    out = vm.log()
    for s in ["fd %d 'pc.rom': not open" % fd, 'rolling back: exec ' + old]:
        qt.check(s in out, 'the log does not say "%s":\n%s' % (s, out))
    qt.check(code != 0, 'the old QEMU exited with status 0 without its pc.rom fd')
    qt.check(new not in out.replace('--rollback-to=' + old, ''),
             'NEW was run; log:\n' + out)
    qt.log('caught, rolled back; the old QEMU exited with status %d without fd %d:\n%s'
           % (code, fd, out.strip()))


def broken_binary(d, name, mode):
    """QEMU cut after its ELF header: execve finds no program headers and
    fails. (Cut later, execve may succeed and the process die at its first
    instruction, past where the trampoline can help.)"""
    path = d.join(name)
    with open(qt.find_qemu(), 'rb') as src, open(path, 'wb') as dst:
        dst.write(src.read(64))
    os.chmod(path, mode)
    return path


async def rollback_exec_truncated(d):
    new = broken_binary(d, 'qemu-truncated', 0o755)
    await rolls_back(d, 'memfd', lambda old, new, vm:
                     trampoline('--rollback-to=' + old, '--', new) + vm.incoming_args(),
                     ['cannot exec ' + new], new)


async def rollback_exec_noexec(d):
    new = broken_binary(d, 'qemu-not-executable', 0o644)
    await rolls_back(d, 'memfd', lambda old, new, vm:
                     trampoline('--rollback-to=' + old, '--', new) + vm.incoming_args(),
                     ['cannot exec ' + new, 'EACCES'], new)


async def no_rollback(d):
    """Without --rollback-to a failure ends the process with the documented
    exit code: the guest is gone, which is what --rollback-to is for."""
    old = qt.find_qemu()
    new = broken_binary(d, 'qemu-truncated', 0o755)
    vm = qt.Qemu(d, old, 'memfd')
    await vm.start()
    await vm.prepare()
    await vm.cpr_exec(trampoline('--', new) + vm.incoming_args())
    code = await vm.wait_exit()
    out = vm.log()
    qt.check(code == 24, 'exit status %d, expected 24 (COMMAND could not be executed); '
             'log:\n%s' % (code, out))
    qt.check('relive-trampoline: cannot exec ' + new in out,
             'the trampoline did not say why; log:\n' + out)
    qt.log('exit status 24: ' + out.strip().splitlines()[-1])


CASES = {
    'update-memfd': update_memfd,
    'update-shm': update_shm,
    'update-file': update_file,
    'rollback-stray': rollback_stray,
    'rollback-fd-missing': rollback_fd_missing,
    'rollback-exec-truncated': rollback_exec_truncated,
    'rollback-exec-noexec': rollback_exec_noexec,
    'no-rollback': no_rollback,
}

if __name__ == '__main__':
    qt.run(CASES, sys.argv)
