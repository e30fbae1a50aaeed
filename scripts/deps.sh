#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Install the Debian packages relive builds, tests and benchmarks with,
# when any is missing. Runs as root on Debian 12; does nothing when all are there.
set -e
pkgs="meson ninja-build pkg-config gcc libc6-dev liburing-dev libglib2.0-dev
libjson-glib-dev libnuma-dev libcmocka-dev python3 fio"
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "relive: installing Debian packages:$missing"
if [ "$(id -u)" != 0 ]; then
	echo "relive: run as root (or install them yourself):$missing" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq $missing >/dev/null
