// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Operations in flight, shared by the writer and the reader: a fixed table
 * of queue-depth slots, the choice of backend, of the O_DIRECT or the
 * buffered file and of copying a buffered write at once, and what a result
 * means (short transfer: resubmit the rest; -EAGAIN: resubmit; -EINVAL from
 * O_DIRECT: stop using O_DIRECT and resubmit buffered). The backend only
 * carries out or queues operations and returns their results here.
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
	e->done = calloc(qd, sizeof(*e->done));
	if (!e->ops || !e->free_ops || !e->done) {
		rl_engine_fini(e);
		return -ENOMEM;
	}
	e->nops = qd;
	for (i = 0; i < qd; i++)
		e->free_ops[i] = qd - 1 - i;
	e->nfree_ops = qd;

	e->be = &rl_fallback_ops;
	if (!(opts && opts->force_fallback)) {
		ret = rl_ring_setup(e, qd);
		if (ret < 0)
			e->fallback_reason = ret;
		else
			e->be = &rl_ring_ops;
	}
	return 0;
}

int rl_engine_set_files(struct rl_engine *e, int fd_direct, int fd_buffered)
{
	e->fd[RL_FD_DIRECT] = fd_direct;
	e->fd[RL_FD_BUFFERED] = fd_buffered;
	e->direct = fd_direct >= 0;
	e->be->attach(e);
	return 0;
}

void rl_engine_fini(struct rl_engine *e)
{
	int i;

	if (e->be)
		e->be->teardown(e);
	for (i = 0; i < 2; i++)
		if (e->fd[i] >= 0)
			close(e->fd[i]);
	e->fd[0] = e->fd[1] = -1;
	rl_pool_fini(&e->pool);
	free(e->ops);
	free(e->free_ops);
	free(e->done);
	e->ops = NULL;
	e->free_ops = NULL;
	e->done = NULL;
}

static int pick_fd(const struct rl_engine *e, const struct rl_op *op)
{
	if (e->direct && rl_aligned((uintptr_t)op->addr) && rl_aligned(op->off) &&
	    rl_aligned(op->len))
		return RL_FD_DIRECT;
	return RL_FD_BUFFERED;
}

static void finish(struct rl_engine *e, struct rl_op *op, int res)
{
	unsigned slot = (unsigned)(op - e->ops);

	op->busy = false;
	e->inflight--;
	e->free_ops[e->nfree_ops++] = slot;
	e->complete(e, op, res);
}

/*
 * account - take in one result of @op.
 * Return: true when @op is finished (and handed to the owner), false when
 * the rest must be issued again.
 */
static bool account(struct rl_engine *e, struct rl_op *op, int res)
{
	size_t n;

	res = res < 0 ? res : (e->writing ? RL_FAILPOINT("io.write") : RL_FAILPOINT("io.read")) ?: res;
	if (res == -EAGAIN || res == -EINTR)
		return false;
	if (res == -EINVAL && op->on_direct && e->direct) {
		/* The file system took O_DIRECT at open but refuses the I/O. */
		e->direct = false;
		return false;
	}
	if (res < 0) {
		finish(e, op, res);
		return true;
	}
	if (res == 0) {
		if (op->len && e->writing)
			finish(e, op, -EIO);
		else
			finish(e, op, op->need ? -ENODATA : 0);
		return true;
	}
	n = (size_t)res;
	if (n > op->len)
		n = op->len;
	op->addr += n;
	op->off += n;
	op->len -= n;
	op->need = op->need > n ? op->need - n : 0;
	if (!op->len || !op->need) {
		finish(e, op, 0);
		return true;
	}
	return false;
}

/*
 * issue - hand @op to the backend, or carry it out here, until it is
 * queued or finished.
 *
 * A buffered write is a copy into the page cache, not device I/O. File
 * systems that cannot do it without blocking (ext4) make io_uring hand it
 * to a worker thread, one write per file at a time, much slower than
 * copying right here (docs/io.md has the measurement). So it is done here,
 * synchronously, with any backend.
 */
static void issue(struct rl_engine *e, struct rl_op *op)
{
	int which, res;

	do {
		which = pick_fd(e, op);
		op->on_direct = which == RL_FD_DIRECT;
		if (e->writing && which == RL_FD_BUFFERED)
			res = rl_pio(e->fd[which], op, true);
		else if (e->be->issue(e, op, which, &res))
			return;
	} while (!account(e, op, res));
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
	issue(e, op);
	return 0;
}

/* Return: 0 or -errno; hands prepared operations to the kernel. */
int rl_engine_submit(struct rl_engine *e)
{
	int ret = e->be->submit(e);

	/* The kernel wants completions taken first; taking them submits too. */
	if (ret == -EAGAIN || ret == -EBUSY)
		return rl_engine_wait(e, 0);
	return ret;
}

/*
 * rl_engine_wait - submit what is prepared and process completions, waiting
 * for at least @min when operations are in flight.
 * Return: 0 or -errno when the backend itself fails.
 */
int rl_engine_wait(struct rl_engine *e, unsigned min)
{
	unsigned seen = 0;
	int i, n;

	if (!e->inflight)
		min = 0;
	for (;;) {
		n = e->be->reap(e, e->done, e->nops, seen < min);
		if (n < 0)
			return n;
		for (i = 0; i < n; i++) {
			struct rl_op *op = e->done[i].op;

			if (!account(e, op, e->done[i].res))
				issue(e, op);
		}
		seen += (unsigned)n;
		if (seen >= min && !e->queued)
			return 0;
		if (!e->inflight && !e->queued)
			return 0;
	}
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
