// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Operations in flight, shared by the writer and the reader and by both
 * backends: a fixed table of queue-depth slots, the choice between the
 * O_DIRECT and the buffered file, and what a result means (short transfer:
 * resubmit the rest; -EAGAIN: resubmit; -EINVAL from O_DIRECT: stop using
 * O_DIRECT and resubmit buffered).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

int rl_engine_init(struct rl_engine *e, const struct rl_io_opts *opts,
		   bool writing, rl_complete_fn complete, void *owner)
{
	unsigned qd = opts && opts->queue_depth ? opts->queue_depth : RL_IO_DEFAULT_QD;
	unsigned bufs = opts && opts->buf_count ? opts->buf_count : RL_IO_DEFAULT_BUFS;
	size_t bsize = opts && opts->buf_size ? opts->buf_size : RL_IO_DEFAULT_BUF_SIZE;
	unsigned i;
	int ret;

	memset(e, 0, sizeof(*e));
	e->fd[0] = e->fd[1] = -1;
	e->writing = writing;
	e->complete = complete;
	e->owner = owner;
	if (qd > RL_IO_MAX_QD)
		return -EINVAL;

	ret = rl_pool_init(&e->pool, bufs, bsize, opts && opts->numa_set,
			   opts ? opts->numa_node : RL_NUMA_NONE);
	if (ret < 0)
		return ret;

	e->ops = calloc(qd, sizeof(*e->ops));
	e->free_ops = calloc(qd, sizeof(*e->free_ops));
	if (!e->ops || !e->free_ops) {
		rl_engine_fini(e);
		return -ENOMEM;
	}
	e->nops = qd;
	for (i = 0; i < qd; i++)
		e->free_ops[i] = qd - 1 - i;
	e->nfree_ops = qd;

	e->backend = RL_IO_FALLBACK;
	if (!(opts && opts->force_fallback)) {
		ret = rl_ring_setup(e, qd);
		if (ret < 0)
			e->fallback_reason = ret;
		else
			e->backend = RL_IO_URING;
	}
	return 0;
}

int rl_engine_set_files(struct rl_engine *e, int fd_direct, int fd_buffered)
{
	e->fd[RL_FD_DIRECT] = fd_direct;
	e->fd[RL_FD_BUFFERED] = fd_buffered;
	e->direct = fd_direct >= 0;
	if (e->ring_ok)
		rl_ring_register(e);
	return 0;
}

void rl_engine_fini(struct rl_engine *e)
{
	int i;

	if (e->ring_ok)
		rl_ring_teardown(e);
	for (i = 0; i < 2; i++)
		if (e->fd[i] >= 0)
			close(e->fd[i]);
	e->fd[0] = e->fd[1] = -1;
	rl_pool_fini(&e->pool);
	free(e->ops);
	free(e->free_ops);
	e->ops = NULL;
	e->free_ops = NULL;
}

int rl_engine_pick_fd(const struct rl_engine *e, const struct rl_op *op)
{
	if (e->direct && rl_aligned((uintptr_t)op->addr) && rl_aligned(op->off) &&
	    rl_aligned(op->len))
		return RL_FD_DIRECT;
	return RL_FD_BUFFERED;
}

void rl_engine_issue(struct rl_engine *e, struct rl_op *op)
{
	if (e->backend == RL_IO_URING)
		rl_ring_issue(e, op);
	else
		rl_fallback_issue(e, op);
}

void rl_engine_finish(struct rl_engine *e, struct rl_op *op, int res)
{
	unsigned slot = (unsigned)(op - e->ops);

	op->busy = false;
	e->inflight--;
	e->free_ops[e->nfree_ops++] = slot;
	e->complete(e, op, res);
}

/*
 * rl_engine_progress - account one result of @op and either finish it or
 * issue the rest again.
 */
void rl_engine_progress(struct rl_engine *e, struct rl_op *op, int res)
{
	size_t n;

	if (res == -EAGAIN || res == -EINTR) {
		rl_engine_issue(e, op);
		return;
	}
	if (res == -EINVAL && op->on_direct && e->direct) {
		/* The file system took O_DIRECT at open but refuses the I/O. */
		e->direct = false;
		rl_engine_issue(e, op);
		return;
	}
	if (res < 0) {
		rl_engine_finish(e, op, res);
		return;
	}
	if (res == 0) {
		if (op->len && e->writing)
			rl_engine_finish(e, op, -EIO);
		else
			rl_engine_finish(e, op, op->need ? -ENODATA : 0);
		return;
	}
	n = (size_t)res;
	if (n > op->len)
		n = op->len;
	op->addr += n;
	op->off += n;
	op->len -= n;
	op->need = op->need > n ? op->need - n : 0;
	if (!op->len || !op->need) {
		rl_engine_finish(e, op, 0);
		return;
	}
	rl_engine_issue(e, op);
}

/*
 * rl_engine_start - take a slot (waiting for one if all are in flight) and
 * issue a transfer of @len bytes at @addr to or from file offset @off.
 * Return: 0 or -errno from waiting.
 */
int rl_engine_start(struct rl_engine *e, void *addr, size_t len, size_t need,
		    uint64_t off, int buf_idx, int tag)
{
	struct rl_op *op;
	int ret;

	while (!e->nfree_ops) {
		ret = rl_engine_wait(e, 1);
		if (ret < 0)
			return ret;
	}
	op = &e->ops[e->free_ops[--e->nfree_ops]];
	op->addr = addr;
	op->len = len;
	op->need = need;
	op->off = off;
	op->buf_idx = buf_idx;
	op->tag = tag;
	op->busy = true;
	op->on_direct = false;
	e->inflight++;
	rl_engine_issue(e, op);
	return 0;
}

/* Return: 0 or -errno; hands prepared operations to the kernel. */
int rl_engine_submit(struct rl_engine *e)
{
	if (e->backend != RL_IO_URING)
		return 0;
	return rl_ring_submit(e);
}

/*
 * rl_engine_wait - submit what is prepared and process completions, waiting
 * for at least @min when operations are in flight.
 * Return: 0 or -errno when the ring itself fails.
 */
int rl_engine_wait(struct rl_engine *e, unsigned min)
{
	if (e->backend != RL_IO_URING)
		return 0;
	if (!e->inflight)
		min = 0;
	return rl_ring_reap(e, min);
}

/* Return: 0 once nothing is in flight, or -errno when the ring fails. */
int rl_engine_drain(struct rl_engine *e)
{
	int ret;

	while (e->inflight) {
		ret = rl_engine_wait(e, 1);
		if (ret < 0)
			return ret;
	}
	return 0;
}
