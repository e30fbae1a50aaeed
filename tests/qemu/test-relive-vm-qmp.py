# SPDX-License-Identifier: GPL-2.0-or-later
"""relive-vm (-accel thread) driven by QEMU's own QMP client, qemu.qmp's
QMPClient: negotiation, commands, QEMU's error classes, and the events of two
cpr-exec updates followed on one connection. Usage: test-relive-vm-qmp.py CASE."""

import asyncio
import os
import sys
import time

import qemutest as qt

RAM_MIB = 64


def vm_args(d):
    return ['-object', 'memory-backend-memfd,id=ram0,size=%dM' % RAM_MIB,
            '-machine', 'memory-backend=ram0,aux-ram-share=on', '-smp', '1',
            '-accel', 'thread', '-serial', 'none',
            '-qmp', 'unix:%s,server,nowait' % d.join('qmp.sock')]


async def connect(qmp_mod, d, proc):
    deadline = time.monotonic() + qt.TIMEOUT
    while True:
        qmp = qmp_mod.QMPClient('relive-test')
        try:
            await qmp.connect(d.join('qmp.sock'))
            return qmp
        except (qmp_mod.ConnectError, OSError):
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            qt.fail('relive-vm did not come up; its log:\n' + d.read('vm.log'))
        await asyncio.sleep(0.05)


async def refused(qmp_mod, qmp, cmd, args, error_class, says):
    try:
        await qmp.execute(cmd, args)
    except qmp_mod.ExecuteError as e:
        qt.check(e.error_class == error_class, '%s %s: class %s, expected %s (%s)'
                 % (cmd, args, e.error_class, error_class, e))
        qt.check(says in str(e), '%s %s: "%s" does not say "%s"' % (cmd, args, e, says))
        return
    qt.fail('%s %s succeeded, expected %s' % (cmd, args, error_class))


async def next_event(qmp):
    try:
        return await asyncio.wait_for(qmp.events.get(), qt.TIMEOUT)
    except asyncio.TimeoutError:
        qt.fail('no QMP event for %.0f s' % qt.TIMEOUT)


async def update_events(qmp, state, d):
    """One cpr-exec update; returns its events up to both MIGRATION
    completed and RESUME, as NAME or NAME:status."""
    qmp.events.clear()  # what came after the last update's RESUME
    await qmp.execute('migrate', {'uri': 'file:' + state})
    seen = []
    while 'MIGRATION:completed' not in seen or 'RESUME' not in seen:
        ev = await next_event(qmp)
        name = ev['event']
        if name == 'MIGRATION':
            name += ':' + ev['data']['status']
            qt.check(ev['data']['status'] not in ('failed', 'cancelled'),
                     'the update failed: %s; log:\n%s' % (seen + [name], d.read('vm.log')))
        seen.append(name)
    return seen


async def qmp_client(d):
    qmp_mod = qt.qmp_client()
    vm = os.environ['RELIVE_VM']
    args = vm_args(d)
    state = d.join('vm.state')
    proc = d.spawn([vm] + args, 'vm.log')
    qmp = await connect(qmp_mod, d, proc)

    version = qmp.greeting.QMP.version['qemu']
    qt.check((version['major'], version['minor']) >= (10, 2),
             'greeting claims QEMU %s' % version)
    st = await qmp.execute('query-status')
    qt.check(st == {'running': True, 'status': 'running'}, 'query-status: %s' % st)

    await refused(qmp_mod, qmp, 'no-such-command', None, 'CommandNotFound',
                  'no-such-command')
    await refused(qmp_mod, qmp, 'migrate-set-parameters', {'no-such-parameter': 1},
                  'GenericError', 'no-such-parameter')
    await refused(qmp_mod, qmp, 'migrate-set-parameters', {'mode': 7},
                  'GenericError', 'mode')
    await refused(qmp_mod, qmp, 'migrate', {}, 'GenericError', 'uri')

    command = [os.environ['RELIVE_TRAMPOLINE'], '--', vm] + args + ['-incoming', 'file:' + state]
    ram = qt.Ram(proc.pid, RAM_MIB * qt.MIB)
    for i in range(2):
        # set before each update: like QEMU's, the new process starts with
        # the default parameters
        await qmp.execute('migrate-set-parameters',
                          {'mode': 'cpr-exec', 'cpr-exec-command': command})
        params = await qmp.execute('query-migrate-parameters')
        qt.check(params['mode'] == 'cpr-exec' and params['cpr-exec-command'] == command,
                 'query-migrate-parameters: %s' % params)
        before = ram.heartbeat()
        seen = await update_events(qmp, state, d)
        qt.log('update %d, events: %s' % (i + 1, ' '.join(seen)))
        for ev in ('STOP', 'RESUME'):
            qt.check(seen.count(ev) == 1, 'update %d: %s %d times in %s'
                     % (i + 1, ev, seen.count(ev), seen))
        qt.check(seen[0] == 'MIGRATION:setup'
                 and seen.index('STOP') < seen.index('MIGRATION:completed')
                 and seen.index('STOP') < seen.index('RESUME'),
                 'update %d: events out of order: %s' % (i + 1, seen))
        qt.check(qmp.runstate == qmp_mod.Runstate.RUNNING,
                 'the connection did not survive update %d' % (i + 1))
        qt.check(proc.poll() is None, 'relive-vm exited; log:\n' + d.read('vm.log'))
        st = await qmp.execute('query-status')
        qt.check(st['status'] == 'running', 'after update %d: %s' % (i + 1, st))
        mig = await qmp.execute('query-migrate')
        qt.check(mig['status'] == 'completed', 'query-migrate: %s' % mig)
        # the same memfd, mapped before the first update: the guest runs on it
        deadline = time.monotonic() + qt.TIMEOUT
        while ram.heartbeat() <= before:
            if time.monotonic() > deadline:
                qt.fail('heartbeat stands still after update %d' % (i + 1))
            await asyncio.sleep(0.02)

    qmp.events.clear()
    await qmp.execute('stop')
    qt.check((await next_event(qmp))['event'] == 'STOP', 'no STOP after stop')
    await qmp.execute('cont')
    qt.check((await next_event(qmp))['event'] == 'RESUME', 'no RESUME after cont')
    ram.close()
    await qmp.execute('quit')
    qt.check(proc.wait(qt.TIMEOUT) == 0, 'relive-vm exited with status %d after quit'
             % proc.returncode)
    try:
        await qmp.disconnect()
    except EOFError:  # relive-vm closed its end first
        pass


if __name__ == '__main__':
    qt.run({'qmp-client': qmp_client}, sys.argv)
