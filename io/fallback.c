// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The pwritev/preadv backend, used where io_uring cannot be (disabled by
 * sysctl, refused by seccomp, missing) or when an option forces it. Each
 * operation is carried out when issued, so nothing is ever queued or in
 * flight between calls; the engine's rules for results still apply.
 */
#include "internal.h"

static void fallback_attach(struct rl_engine *e)
{
}

static void fallback_teardown(struct rl_engine *e)
{
}

static int fallback_issue(struct rl_engine *e, struct rl_op *op, int which,
			  int *res)
{
	*res = rl_pio(e->fd[which], op, e->writing);
	return 0;
}

static int fallback_submit(struct rl_engine *e)
{
	return 0;
}

static int fallback_reap(struct rl_engine *e, struct rl_io_done *done,
			 unsigned max, bool wait)
{
	return 0;
}

const struct rl_backend_ops rl_fallback_ops = {
	.id = RL_IO_FALLBACK,
	.attach = fallback_attach,
	.teardown = fallback_teardown,
	.issue = fallback_issue,
	.submit = fallback_submit,
	.reap = fallback_reap,
};
