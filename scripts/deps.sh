#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Install the Debian packages relive builds, tests and benchmarks with,
# when any is missing. Runs as root on Debian 12; does nothing, silently, when
# all are there. gnuplot-nox draws `make run`'s SVG; xz-utils, libfdt1, glib,
# zlib and pcre2 run the QEMU build the qemu test suite decompresses, and
# python3 its QMP client.
set -e
pkgs="meson ninja-build pkg-config gcc libc6-dev liburing-dev libglib2.0-dev
libjson-glib-dev libjansson-dev libnuma-dev libcmocka-dev python3 fio gnuplot-nox
xz-utils libfdt1 libglib2.0-0 zlib1g libpcre2-8-0"
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
apt-get update -qq -o DPkg::Lock::Timeout=300
apt-get install -y -qq -o DPkg::Lock::Timeout=300 $missing >/dev/null
