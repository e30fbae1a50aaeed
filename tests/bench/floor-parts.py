#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
# relive-bench floor --json with -accel thread: every part that -accel
# thread has is timed, in every sample, and the KVM-only parts are not
# reported; the floor (a sample's sum) is at least each part. No figure
# of the host is asserted: that is the latency suite's job.
import json
import subprocess
import sys

bench = sys.argv[1]
cmd = [bench, "floor", "--runs", "5", "--ram", "64M", "--vcpus", "2", "--accel", "thread",
       "--json"]
p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
if p.returncode:
    sys.exit(f"{' '.join(cmd)}: status {p.returncode}: {p.stderr.strip()}")
d = json.loads(p.stdout)
want = ["trampoline-exec", "trampoline", "vm-size-exec", "ram-mapped", "vcpus-created"]
errors = []
if d["samples"] != 5 or d["accel"] != "thread":
    errors.append(f"samples {d['samples']}, accel {d['accel']}: want 5, thread")
if sorted(d["parts"]) != sorted(want):
    errors.append(f"parts {sorted(d['parts'])}, want {sorted(want)}")
for name in want:
    m = d["parts"].get(name, {}).get("median-us", 0)
    if not m > 0:
        errors.append(f"part {name}: median {m} us, want > 0")
    elif d["median-us"] < m:
        errors.append(f"floor {d['median-us']} us below its part {name} ({m} us)")
if "relive-exec-probe-vm" not in d["vm-size-binary"]:
    errors.append(f"vm-size-binary {d['vm-size-binary']}: not the padded probe")
for e in errors:
    print(e)
sys.exit(1 if errors else 0)
