// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Filling a struct rl_error: the one place librelive formats messages.
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
