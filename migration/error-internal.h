/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Message helpers shared by migration/'s files; not installed.
 */
#ifndef RELIVE_MIGRATION_ERROR_INTERNAL_H
#define RELIVE_MIGRATION_ERROR_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "failpoint.h"
#include "relive/error.h"

/* rl_err_set - printf into @err->msg; NULL @err is fine. */
__attribute__((format(printf, 2, 3)))
void rl_err_set(struct rl_error *err, const char *fmt, ...);

/*
 * rl_size_str - @bytes as "512 MiB" when it is a whole number of a unit,
 * else in bytes. Return: @buf.
 */
const char *rl_size_str(uint64_t bytes, char *buf, size_t len);

#endif
