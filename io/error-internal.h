/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Message helpers shared by librelive's files, io/ and migration/ above
 * it; not installed.
 */
#ifndef RELIVE_IO_ERROR_INTERNAL_H
#define RELIVE_IO_ERROR_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "failpoint.h"
#include "relive/error.h"

/* rl_err_set - printf into @err->msg; NULL @err is fine. */
__attribute__((format(printf, 2, 3)))
void rl_err_set(struct rl_error *err, const char *fmt, ...);

#endif
