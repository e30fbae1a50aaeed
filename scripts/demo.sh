#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# The main job: until relive-vm can update itself, run the writer benchmark.
set -e
BUILD=${1:-build}
exec "$BUILD/bench/relive-bench" io --quick
