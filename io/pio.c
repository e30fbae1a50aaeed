// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * One synchronous positional transfer of an operation's remaining range:
 * the whole of the pwritev/preadv backend, and the engine's way of copying
 * a buffered write into the page cache at once with either backend.
 */
#include <errno.h>
#include <sys/uio.h>

#include "internal.h"

/* Return: bytes transferred (at most 1 GiB, so it fits a result), or -errno. */
int rl_pio(int fd, const struct rl_op *op, bool writing)
{
	struct iovec iov = { .iov_base = op->addr, .iov_len = op->len };
	ssize_t n;

	if (writing)
		n = pwritev(fd, &iov, 1, (off_t)op->off);
	else
		n = preadv(fd, &iov, 1, (off_t)op->off);
	if (n < 0)
		return -errno;
	return n > (ssize_t)(1u << 30) ? (1 << 30) : (int)n;
}
