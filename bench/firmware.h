/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The firmware the bench gives QEMU with -bios: a 64 KiB image whose reset
 * vector jumps to a real-mode loop that increments vCPU 0's heartbeat, a
 * little-endian u64 at guest-physical 0x1000. A leaf: used by pause.c
 * (--write-firmware) and run.c; includes nothing of the bench.
 */
#ifndef BENCH_FIRMWARE_H
#define BENCH_FIRMWARE_H

#include <gio/gio.h>
#include <glib.h>
#include <stddef.h>
#include <stdint.h>

#define FIRMWARE_SIZE 65536u

/* Fills @img (FIRMWARE_SIZE bytes) with the image. */
void firmware_build(uint8_t *img);

/* Writes the image to @path (0600, created or replaced). */
gboolean firmware_write(const char *path, GError **errp);

#endif
