// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Filling a struct rl_error: the one place migration/ formats messages.
 */
#include <stdarg.h>
#include <stdio.h>

#include "error-internal.h"

void rl_err_set(struct rl_error *err, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
}

const char *rl_size_str(uint64_t bytes, char *buf, size_t len)
{
	static const char *const unit[] = { "bytes", "KiB", "MiB", "GiB", "TiB" };
	unsigned u = 0;

	while (u < 4 && bytes && !(bytes & 1023) && bytes >= 1024) {
		bytes >>= 10;
		u++;
	}
	snprintf(buf, len, "%llu %s", (unsigned long long)bytes, unit[u]);
	return buf;
}
