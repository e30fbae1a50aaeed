// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The io_uring backend: ring setup and probe, registration of the buffer
 * pool and of the two files, preparing READ/WRITE(_FIXED) sqes, and handing
 * completions back to the engine in batches.
 */
#include <errno.h>
#include <stdlib.h>

#include "internal.h"

static int ring_init(struct io_uring *ring, unsigned qd)
{
	int ret;

	/* Completions are only looked for when the ring is entered anyway. */
	ret = RL_FAILPOINT("io.ring.init") ?: io_uring_queue_init(qd, ring, IORING_SETUP_COOP_TASKRUN);
	if (ret == -EINVAL)
		ret = io_uring_queue_init(qd, ring, 0);
	return ret;
}

/* Return: 0 when the ring supports the opcodes used here, else -EOPNOTSUPP. */
static int ring_check_ops(struct io_uring *ring)
{
	static const int needed[] = {
		IORING_OP_READ_FIXED, IORING_OP_WRITE_FIXED,
		IORING_OP_READ, IORING_OP_WRITE,
	};
	struct io_uring_probe *probe = io_uring_get_probe_ring(ring);
	unsigned i;
	int ret = 0;

	if (!probe)
		return -EOPNOTSUPP;
	for (i = 0; i < sizeof(needed) / sizeof(needed[0]); i++)
		if (!io_uring_opcode_supported(probe, needed[i]))
			ret = -EOPNOTSUPP;
	io_uring_free_probe(probe);
	return ret;
}

int rl_io_probe(void)
{
	struct io_uring ring;
	int ret;

	ret = ring_init(&ring, 2);
	if (ret < 0)
		return ret;
	ret = ring_check_ops(&ring);
	io_uring_queue_exit(&ring);
	return ret;
}

const char *rl_io_backend_name(enum rl_io_backend backend)
{
	return backend == RL_IO_URING ? "io_uring" : "pwritev";
}

int rl_ring_setup(struct rl_engine *e, unsigned qd)
{
	int ret;

	ret = ring_init(&e->ring, qd);
	if (ret < 0)
		return ret;
	ret = ring_check_ops(&e->ring);
	if (ret < 0) {
		io_uring_queue_exit(&e->ring);
		return ret;
	}
	e->ring_ok = true;
	return 0;
}

/*
 * Registration saves pinning and file lookups on every operation; when the
 * kernel refuses it (locked-memory limit), plain READ/WRITE still work.
 */
static void ring_attach(struct rl_engine *e)
{
	struct iovec *iov;
	int fds[2];
	unsigned i;

	iov = calloc(e->pool.count, sizeof(*iov));
	if (iov) {
		for (i = 0; i < e->pool.count; i++) {
			iov[i].iov_base = rl_pool_buf(&e->pool, i);
			iov[i].iov_len = e->pool.buf_size;
		}
		e->bufs_registered =
			io_uring_register_buffers(&e->ring, iov, e->pool.count) == 0;
		free(iov);
	}
	fds[RL_FD_DIRECT] = e->fd[RL_FD_DIRECT] >= 0 ? e->fd[RL_FD_DIRECT] :
						       e->fd[RL_FD_BUFFERED];
	fds[RL_FD_BUFFERED] = e->fd[RL_FD_BUFFERED];
	e->files_registered = io_uring_register_files(&e->ring, fds, 2) == 0;
}

static void ring_teardown(struct rl_engine *e)
{
	if (!e->ring_ok)
		return;
	io_uring_queue_exit(&e->ring);
	e->ring_ok = false;
}

static int ring_issue(struct rl_engine *e, struct rl_op *op, int which, int *res)
{
	struct io_uring_sqe *sqe;
	int fd = e->files_registered ? which : e->fd[which];
	unsigned len = (unsigned)op->len;

	sqe = io_uring_get_sqe(&e->ring);
	if (!sqe) {
		/* Cannot happen with sq entries >= slots; keep going anyway. */
		io_uring_submit(&e->ring);
		e->queued = 0;
		sqe = io_uring_get_sqe(&e->ring);
		if (!sqe) {
			*res = -EBUSY;
			return 0;
		}
	}
	if (op->buf_idx >= 0 && e->bufs_registered) {
		if (e->writing)
			io_uring_prep_write_fixed(sqe, fd, op->addr, len, op->off,
						  op->buf_idx);
		else
			io_uring_prep_read_fixed(sqe, fd, op->addr, len, op->off,
						 op->buf_idx);
	} else {
		if (e->writing)
			io_uring_prep_write(sqe, fd, op->addr, len, op->off);
		else
			io_uring_prep_read(sqe, fd, op->addr, len, op->off);
	}
	if (e->files_registered)
		sqe->flags |= IOSQE_FIXED_FILE;
	io_uring_sqe_set_data(sqe, op);
	e->queued++;
	return 1;
}

static int ring_submit(struct rl_engine *e)
{
	int ret;

	while (e->queued) {
		ret = io_uring_submit(&e->ring);
		if (ret >= 0) {
			e->queued = 0;
			break;
		}
		if (ret != -EINTR)
			return ret;
	}
	return 0;
}

static int ring_reap(struct rl_engine *e, struct rl_io_done *done,
		     unsigned max, bool wait)
{
	struct io_uring_cqe *cqe;
	unsigned head, n = 0;
	int ret;

	if (e->queued || wait) {
		ret = io_uring_submit_and_wait(&e->ring, wait ? 1 : 0);
		if (ret >= 0)
			e->queued = 0;
		else if (ret != -EINTR && ret != -EAGAIN && ret != -EBUSY &&
			 ret != -ETIME)
			return ret;
	}
	io_uring_for_each_cqe(&e->ring, head, cqe) {
		if (n == max)
			break;
		done[n].op = io_uring_cqe_get_data(cqe);
		done[n].res = cqe->res;
		n++;
	}
	io_uring_cq_advance(&e->ring, n);
	return (int)n;
}

const struct rl_backend_ops rl_ring_ops = {
	.id = RL_IO_URING,
	.attach = ring_attach,
	.teardown = ring_teardown,
	.issue = ring_issue,
	.submit = ring_submit,
	.reap = ring_reap,
};
