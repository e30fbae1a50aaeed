// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The pwritev/preadv backend, used where io_uring cannot be (disabled by
 * sysctl, refused by seccomp, missing) or when an option forces it. Each
 * operation is carried out at once, so nothing is ever in flight between
 * calls; the engine's rules for short transfers and errors still apply.
 */
#include <errno.h>
#include <sys/uio.h>

#include "internal.h"

static int fallback_io(struct rl_engine *e, struct rl_op *op)
{
	int which = rl_engine_pick_fd(e, op);
	struct iovec iov = { .iov_base = op->addr, .iov_len = op->len };
	ssize_t n;

	op->on_direct = which == RL_FD_DIRECT;
	if (e->writing)
		n = pwritev(e->fd[which], &iov, 1, (off_t)op->off);
	else
		n = preadv(e->fd[which], &iov, 1, (off_t)op->off);
	if (n < 0)
		return -errno;
	return n > (ssize_t)(1u << 30) ? (1 << 30) : (int)n;
}

/*
 * Resubmissions from rl_engine_progress() come back here; they are turned
 * into another turn of the loop instead of recursing.
 */
void rl_fallback_issue(struct rl_engine *e, struct rl_op *op)
{
	op->again = true;
	if (e->fb_running)
		return;
	e->fb_running = true;
	while (op->again) {
		op->again = false;
		rl_engine_progress(e, op, fallback_io(e, op));
	}
	e->fb_running = false;
}
