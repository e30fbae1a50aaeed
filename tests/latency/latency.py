#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
# The latency suite: runs relive-bench pause with a few updates and asserts
# generous ceilings and ratios on the guest-visible pause. Bounds come from
# measurements on the reference machine (2 cores, software KVM), see
# docs/bench.md; each failure prints the measured figure and the bound.
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

SKIP = 77


def run_bench(bench, args, timeout=240):
    out = tempfile.mkdtemp(prefix="relive-latency-", dir="/tmp")
    try:
        cmd = [bench, "pause", "--out", out, "--rate-window", "100"] + args
        print("+", " ".join(cmd), flush=True)
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, timeout=timeout)
        print(p.stdout)
        with open(os.path.join(out, "pause.json")) as f:
            data = json.load(f)
    finally:
        shutil.rmtree(out, ignore_errors=True)
    for sc in data["scenarios"]:
        if not sc["samples"]:
            why = sc.get("skipped") or sc.get("note") or "no sample"
            fail(f"{sc['mode']} {sc['backing']} {sc['ram-bytes'] >> 20} MiB: {why}")
        if sc.get("note"):
            fail(f"{sc['mode']} {sc['ram-bytes'] >> 20} MiB: {sc['note']}")
    return data


class Failed(Exception):
    pass


def fail(msg):
    raise Failed(msg)


def scenario(data, **want):
    for sc in data["scenarios"]:
        if all(sc[k] == v for k, v in want.items()):
            return sc
    fail(f"no scenario {want} in the results")


def bound_for(spec, data):
    # "2.0" for every accelerator, or "2.0,kvm=3.5": a bound of its own
    # where the guest runs under KVM (software KVM on the reference machine:
    # every vCPU ioctl costs about 8 us there and a memory slot 0.47 ms per
    # GiB, costs the thread accelerator does not have; docs/bench.md).
    parts = spec.split(",")
    bound = float(parts[0])
    for p in parts[1:]:
        accel, _, value = p.partition("=")
        if accel == data["accel"]:
            bound = float(value)
    return bound


def median_ms(sc):
    return statistics.median(s["pause-us"] for s in sc["samples"]) / 1000.0


def test_ceiling(bench, runs):
    # 50 ms at 512 MiB, 1 vCPU, cpr-exec through the trampoline.
    bound = 50.0
    data = run_bench(bench, ["--mode", "cpr-exec", "--ram", "512M", "--vcpus", "1",
                             "--runs", str(runs)])
    m = median_ms(scenario(data, mode="cpr-exec"))
    print(f"cpr-exec 512 MiB median pause: {m:.2f} ms (ceiling {bound} ms, accel {data['accel']})")
    if m >= bound:
        fail(f"cpr-exec median pause {m:.2f} ms at 512 MiB is not below {bound} ms")


def test_ratio(bench, runs, bound, size="2G", mode="cpr-exec"):
    # Shared RAM stays in place: 8x (16x) the RAM must not cost 8x the pause.
    # Under software KVM a memory slot costs 0.47 ms per GiB to register
    # (KVM allocates a reverse map entry per 4 KiB page), inside the pause
    # of a cpr-exec update: 7.5 ms at 16 GiB. Measured 16G / 256M there:
    # 3.78 to 4.95; bound 6.5 (the thread accelerator: 1.8). cpr-transfer's
    # new process makes its slots before the stop, in 1 GiB slots so that
    # the guest still running in the old process is not held up meanwhile:
    # 1.17 and 1.01 there (the goal, 1.3; bound 1.8).
    big_bytes = int(size[:-1]) << {"M": 20, "G": 30}[size[-1]]
    data = run_bench(bench, ["--mode", mode, "--ram", "256M," + size,
                             "--runs", str(runs)], timeout=240 + 20 * (big_bytes >> 30))
    small = median_ms(scenario(data, **{"ram-bytes": 256 << 20}))
    big = median_ms(scenario(data, **{"ram-bytes": big_bytes}))
    bound = bound_for(bound, data)
    ratio = big / small
    print(f"{mode}: median pause 256 MiB {small:.2f} ms, {size} {big:.2f} ms: ratio {ratio:.2f} "
          f"(bound {bound})")
    if ratio > bound:
        fail(f"{size} / 256 MiB pause ratio {ratio:.2f} exceeds {bound} "
             f"({big:.2f} ms / {small:.2f} ms)")


def vm_stall_ms(sc):
    return statistics.median(s["vm-stall-us"] for s in sc["samples"]) / 1000.0


def test_vcpus_ratio(bench, runs, bound):
    # 8 vCPUs must not cost much more than 1 to stop, save, load and resume
    # (goal 1.5x; the bound leaves room for 8 vCPU threads sharing the
    # reference machine's 2 cores). The figure is the VM-wide stall, the
    # time no vCPU moved: 8 busy KVM vCPUs on 2 cores each wait for a CPU
    # for tens of ms, update or not, and their own longest stalls measure
    # the host's scheduler (docs/bench.md). With 1 vCPU it is the pause.
    data = run_bench(bench, ["--mode", "cpr-exec", "--ram", "1G", "--vcpus", "1,8",
                             "--runs", str(runs)])
    one = vm_stall_ms(scenario(data, vcpus=1))
    eight = vm_stall_ms(scenario(data, vcpus=8))
    bound = bound_for(bound, data)
    ratio = eight / one
    print(f"median VM-wide stall 1 vCPU {one:.2f} ms, 8 vCPUs {eight:.2f} ms: ratio {ratio:.2f} "
          f"(bound {bound})")
    if ratio > bound:
        fail(f"8 / 1 vCPU stall ratio {ratio:.2f} exceeds {bound} ({eight:.2f} ms / {one:.2f} ms)")


def mem_available_gib():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / (1 << 20)
    return 0.0


def test_floor_ratio(bench, runs, bound):
    # The pause of a warm 1 GiB guest against the floor of an update on the
    # same host, measured between the updates of the same run (relive-bench
    # pause --floor): the trampoline's exec and own work, the exec of a
    # static binary of relive-vm's size, mapping the RAM, creating the VM,
    # its slots and vCPUs. The product goal is 2. With relive-vm static,
    # measured 1.89 and 1.96 on the reference machine when idle (2 cores,
    # no KVM, -accel thread) and 1.84 with another test suite running;
    # with the shared libraries it was 2.24 to 2.77 idle and up to 5.31 at
    # load 9 (docs/bench.md). The bound (3.5) leaves room for a busy host;
    # vm-static-binary catches a return to a dynamic start. Under software
    # KVM the same machine measured 3.56 to 4.04: the floor there is 0.9 ms
    # and the update also stops, saves and loads KVM vCPU state at about
    # 8 us an ioctl; bound 5. Since the observer keeps off the VMM's CPU in
    # a stall and is quiet while the floor is timed (it had slowed both,
    # the floor more), 3.49 there (2.77 / 0.79 ms); under -accel thread the
    # floor fell by a third and the pause by a sixth on that machine, so
    # the 1.9 above would be about 2.5 now (not measured: no machine
    # without KVM was at hand).
    data = run_bench(bench, ["--mode", "cpr-exec", "--ram", "1G", "--runs", str(runs),
                             "--floor"])
    sc = scenario(data, mode="cpr-exec")
    if "floor" not in sc:
        fail("no floor in pause.json: relive-bench pause --floor measured none")
    pause = median_ms(sc)
    floor = sc["floor"]["median-us"] / 1000.0
    bound = bound_for(bound, data)
    ratio = pause / floor
    print(f"cpr-exec 1 GiB median pause {pause:.2f} ms, floor {floor:.2f} ms "
          f"({sc['floor']['samples']} samples): ratio {ratio:.2f} (bound {bound})")
    if ratio > bound:
        fail(f"median pause / floor at 1 GiB is {ratio:.2f}, above {bound} "
             f"({pause:.2f} ms / {floor:.2f} ms)")


def test_recovery(bench, runs, bound):
    # No brownout: a guest that writes every page of its 4 GiB over and over
    # (-accel thread,touch-ram=on) must run at its rate again right after
    # the resume. The new process's page tables start empty, and until its
    # background populate has passed the guest's working set every page the
    # guest touches faults. The goal is 95 % of the rate before within
    # 100 ms; the figure is the rate over the 100 ms after the resume
    # against the rate before the first update (rate-base: a later update
    # can start while the guest still recovers from the one before).
    # Populating by writing, with 2 ms rests between the steps, it was
    # 0.73-0.81 for 2.3 s on the reference machine; populating by reading,
    # with 200 us rests, 1.10-1.18 (docs/bench.md). The bound leaves a
    # margin for a busy host.
    data = run_bench(bench, ["--mode", "cpr-exec", "--accel", "thread", "--touch-ram",
                             "--ram", "4G", "--runs", str(runs)], timeout=300)
    sc = scenario(data, mode="cpr-exec")
    rates = [s["rate-after"] / s["rate-base"] for s in sc["samples"] if s.get("rate-base")]
    if not rates:
        fail("no rate before the first update in pause.json")
    rate = statistics.median(rates)
    recover = [s["recover-ms"] for s in sc["samples"]]
    back = sum(1 for r in recover if r is not None)
    print(f"touching 4 GiB guest: median rate over the 100 ms after the resume {rate:.2f} of "
          f"the rate before the first update (bound >= {bound}); back to 95 % within 100 ms "
          f"in {back} of {len(recover)} updates")
    if rate < bound:
        fail(f"the guest ran at {rate:.2f} of its rate in the 100 ms after the resume "
             f"(median), below {bound}: a brownout")


def test_state_size(bench, runs):
    # The state file holds device state and RAM block names, never shared RAM bytes.
    data = run_bench(bench, ["--mode", "cpr-exec", "--ram", "256M,2G",
                             "--runs", str(runs)])
    sizes = {}
    for ram in (256 << 20, 2 << 30):
        sc = scenario(data, **{"ram-bytes": ram})
        got = [s.get("state-bytes", 0) for s in sc["samples"]]
        if not all(got):
            fail(f"no state file size recorded at {ram >> 20} MiB")
        sizes[ram] = max(got)
    small, big = sizes[256 << 20], sizes[2 << 30]
    slack = 64 << 10
    print(f"state file: {small} bytes at 256 MiB, {big} bytes at 2 GiB (slack {slack})")
    if big > small + slack:
        fail(f"state file grows with shared RAM: {small} bytes at 256 MiB, "
             f"{big} bytes at 2 GiB (more than {slack} bytes apart)")
    if big >= (1 << 20):
        fail(f"state file of {big} bytes at 2 GiB: shared RAM pages were written")


def pooled(data, **want):
    # Every scenario that matches, its samples together.
    samples = [x for sc in data["scenarios"] if all(sc[k] == v for k, v in want.items())
               for x in sc["samples"]]
    if not samples:
        fail(f"no scenario {want} in the results")
    return {"samples": samples}


def vmm_total_ms(sc):
    return statistics.median(s["relive-pause"]["total-us"] for s in sc["samples"]) / 1000.0


def test_blob(bench, runs, bound):
    # A state-blob's memfd crosses cpr-exec: a 64 MiB blob must not lengthen
    # the pause much over none (written and read, it made it 17-37x longer).
    # The bound is on the VMM's own pause (relive-pause total): the pause
    # seen from outside swings by 0.2-4x between two runs of this test on a
    # busy 2-core host, from scheduling alone; it is printed beside it.
    # Three scenarios of each, alternating, their updates pooled: a slow
    # spell of the host falls on both sizes.
    per = max(runs // 3, 2)
    data = run_bench(bench, ["--mode", "cpr-exec", "--ram", "1G", "--vcpus", "1",
                             "--blob", "0,64M,0,64M,0,64M", "--runs", str(per)])
    none = pooled(data, **{"blob-bytes": 0})
    blob = pooled(data, **{"blob-bytes": 64 << 20})
    small, big = vmm_total_ms(none), vmm_total_ms(blob)
    ratio = big / small
    state = max(s.get("state-bytes", 0) for s in blob["samples"])
    print(f"cpr-exec 1 GiB, VMM's median pause: no blob {small:.2f} ms, 64 MiB blob {big:.2f} ms: "
          f"ratio {ratio:.2f} (bound {bound}); from outside {median_ms(none):.2f} and "
          f"{median_ms(blob):.2f} ms; state file {state} bytes")
    if state >= (64 << 20):
        fail(f"the state file holds {state} bytes with a 64 MiB blob: its bytes were written")
    if ratio > bound:
        fail(f"cpr-exec pause (the VMM's total) with a 64 MiB blob {big:.2f} ms / without "
             f"{small:.2f} ms = {ratio:.2f}, above {bound}")


def test_trampoline(bench, runs):
    # relive-bench trampoline times execs of a static probe, direct and
    # through the trampoline, interleaved (so host load hits both alike),
    # with a CPR state of 8 preserved fds (a relive-vm update preserves
    # about that many). Going through the trampoline costs one more execve
    # of a static image, which is the direct figure itself (180-200 us on
    # the reference machine); what the trampoline adds beyond that execve
    # must stay below 100 us.
    bound = 100.0
    cmd = [bench, "trampoline", "--runs", "500", "--fds", "8"]
    print("+", " ".join(cmd), flush=True)
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       timeout=120)
    print(p.stdout)
    if p.returncode:
        fail(f"relive-bench trampoline failed with status {p.returncode}")
    fig = {}
    for key, pat in (("direct", r"direct exec\s+([\d.]+) us"),
                     ("added", r"added by the trampoline\s+(-?[\d.]+) us"),
                     ("inside", r"inside it \(entry->exec\)\s+([\d.]+) us")):
        m = re.search(pat, p.stdout)
        if not m:
            fail(f"no '{key}' figure in relive-bench trampoline's output")
        fig[key] = float(m.group(1))
    beyond = fig["added"] - fig["direct"]
    print(f"trampoline adds {fig['added']:.1f} us: one static execve ({fig['direct']:.1f} us) "
          f"and {beyond:.1f} us more (ceiling {bound:.0f} us); its own work {fig['inside']:.1f} us")
    if beyond >= bound:
        fail(f"the trampoline adds {fig['added']:.1f} us (median), {beyond:.1f} us beyond "
             f"one static execve of {fig['direct']:.1f} us: not below {bound:.0f} us")


def test_restore_ratio(bench, bound, size="1G"):
    # relive-bench restore alternates a normal-mode restore of a guest's
    # RAM into fresh memory and fio reading the same file (O_DIRECT, 1 MiB,
    # iodepth 32). The goal is 0.8x fio; the bound leaves a margin for a
    # busy host (measured 0.95-1.0 at 1G and 4G on the reference machine).
    if not shutil.which("fio"):
        # scripts/deps.sh installs it: missing, it is a broken set-up, not a skip
        fail("fio is not installed: no read ceiling to compare the restore with")
    cmd = [bench, "restore", "--size", size, "--runs", "5"]
    print("+", " ".join(cmd), flush=True)
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       timeout=240)
    print(p.stdout)
    if p.returncode:
        fail(f"relive-bench restore failed with status {p.returncode}")
    m = re.search(r"restore / fio: ([\d.]+)", p.stdout)
    if not m:
        fail("no 'restore / fio' figure in relive-bench restore's output")
    ratio = float(m.group(1))
    print(f"restore / fio read bandwidth at {size}: {ratio:.2f} (bound >= {bound})")
    if ratio < bound:
        fail(f"restore of a {size} guest reads at {ratio:.2f}x fio's bandwidth (median), "
             f"below {bound}")


def main():
    if len(sys.argv) < 3:
        print("usage: latency.py RELIVE-BENCH TEST [ARGS]", file=sys.stderr)
        return 2
    bench, test = sys.argv[1], sys.argv[2]
    runs = int(os.environ.get("RELIVE_LATENCY_RUNS", "10"))
    tests = {
        "ceiling": lambda: test_ceiling(bench, runs),
        "ratio": lambda: test_ratio(bench, runs, sys.argv[3], *sys.argv[4:6]),
        "trampoline": lambda: test_trampoline(bench, runs),
        "floor-ratio": lambda: test_floor_ratio(bench, runs, sys.argv[3]),
        "state-size": lambda: test_state_size(bench, 3),
        "blob": lambda: test_blob(bench, runs, float(sys.argv[3])),
        "vcpus-ratio": lambda: test_vcpus_ratio(bench, runs, sys.argv[3]),
        "recovery": lambda: test_recovery(bench, runs, float(sys.argv[3])),
        "restore-ratio": lambda: test_restore_ratio(bench, float(sys.argv[3]), *sys.argv[4:5]),
    }
    if test == "ratio" and sys.argv[4:5] == ["16G"] and mem_available_gib() < 17:
        print(f"SKIP: a 16 GiB guest needs 17 GiB of MemAvailable, "
              f"this host has {mem_available_gib():.1f} GiB")
        return SKIP
    if test not in tests:
        print(f"unknown test {test}", file=sys.stderr)
        return 2
    # The host may be busy with other work for a while: the bound must be
    # met in one of three attempts. A regression fails all three.
    failures = []
    for attempt in range(1, 4):
        try:
            tests[test]()
            if failures:
                print(f"passed at attempt {attempt}; earlier: " + "; ".join(failures))
            return 0
        except Failed as e:
            print(f"attempt {attempt}: {e}", flush=True)
            failures.append(str(e))
            if test == "state-size":
                break
    print("FAIL: " + " | ".join(failures), flush=True)
    return 1


if __name__ == "__main__":
    sys.exit(main())
