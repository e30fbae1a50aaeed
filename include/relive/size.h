/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * relive sizes: the one parser and the one formatter of byte counts that
 * librelive, relive-vm and relive-bench share ("4G", "512MiB", "256 MiB").
 * No fd or buffer changes hands: results go into memory the caller gives.
 */
#ifndef RELIVE_SIZE_H
#define RELIVE_SIZE_H

#include <stddef.h>
#include <stdint.h>

#include "relive/export.h"

/*
 * rl_size_parse - read a size: digits, then optionally b/B (bytes) or K, M,
 * G, T (powers of 1024), each of the latter optionally followed by "B" or
 * "iB" ("4G", "4GB", "4GiB"). A bare number counts in @unit bytes (1; or
 * 1 MiB for QEMU's -m).
 * Return: 0 and *@out, -EINVAL when @s is not a size (empty, negative,
 * unknown suffix), -ERANGE when it does not fit 64 bits.
 */
RL_EXPORT int rl_size_parse(const char *s, uint64_t unit, uint64_t *out);

enum rl_size_style {
	RL_SIZE_LONG,	/* "512 MiB", "1000 bytes": for messages */
	RL_SIZE_SHORT,	/* "512M", "1000": for tables and option values */
};

/*
 * rl_size_format - @bytes in the largest unit that divides it exactly
 * (KiB to TiB), else in bytes, into @buf of @len bytes (32 is enough).
 * Return: @buf.
 */
RL_EXPORT const char *rl_size_format(uint64_t bytes, enum rl_size_style style,
				     char *buf, size_t len);

#endif
