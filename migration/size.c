// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Byte counts read from and written for people: option values, table
 * columns, messages.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "relive/size.h"

int rl_size_parse(const char *s, uint64_t unit, uint64_t *out)
{
	unsigned long long v;
	uint64_t mul = unit;
	char *end;

	/* strtoull() would take leading blanks and a minus sign */
	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -errno;
	switch (*end) {
	case 0: break;
	case 'b': case 'B': mul = 1; end++; break;
	case 'k': case 'K': mul = 1ull << 10; end++; break;
	case 'm': case 'M': mul = 1ull << 20; end++; break;
	case 'g': case 'G': mul = 1ull << 30; end++; break;
	case 't': case 'T': mul = 1ull << 40; end++; break;
	default: return -EINVAL;
	}
	if (*end && (mul == 1 || (strcmp(end, "iB") && strcmp(end, "B"))))
		return -EINVAL;
	if (v && mul && v > UINT64_MAX / mul)
		return -ERANGE;
	*out = v * mul;
	return 0;
}

const char *rl_size_format(uint64_t bytes, enum rl_size_style style,
			   char *buf, size_t len)
{
	static const char *const lng[] = { "bytes", "KiB", "MiB", "GiB", "TiB" };
	static const char *const shrt[] = { "", "K", "M", "G", "T" };
	unsigned u = 0;

	while (u < 4 && bytes && !(bytes & 1023)) {
		bytes >>= 10;
		u++;
	}
	snprintf(buf, len, style == RL_SIZE_LONG ? "%llu %s" : "%llu%s",
		 (unsigned long long)bytes, style == RL_SIZE_LONG ? lng[u] : shrt[u]);
	return buf;
}
