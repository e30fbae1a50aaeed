#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# The main job (make run): start a demo VM (1 GiB of memfd RAM, prealloc=on,
# 1 vCPU, KVM where /dev/kvm opens, else -accel thread), update it in place
# with cpr-exec through relive-trampoline over QMP, and print the pause the
# guest saw (an observer process reads the heartbeat while the update runs)
# with the VMM's own breakdown from query-migrate. relive-bench does the
# driving and cleans the VM up; docs/vm.md shows the same by hand.
set -e
BUILD=${1:-build}
OUT=${RELIVE_DEMO_OUT:-bench-results/demo}

accel=thread
if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
	accel=kvm
fi
echo "relive demo: relive-vm with 1 GiB memfd RAM (prealloc=on), 1 vCPU, -accel $accel;"
echo "cpr-exec update through relive-trampoline, driven over QMP, 5 times."
echo
timeout 300 "$BUILD/bench/relive-bench" pause \
	--mode cpr-exec --ram 1G --vcpus 1 --backing memfd --exec trampoline \
	--warm --accel "$accel" --runs 5 \
	--vm "$BUILD/vm/relive-vm" --trampoline "$BUILD/trampoline/relive-trampoline" \
	--out "$OUT"
echo
echo "pause: the longest time the guest's heartbeat stood still, seen from outside;"
echo "the breakdown columns are relive-vm's own (query-migrate \"relive-pause\", µs)."
