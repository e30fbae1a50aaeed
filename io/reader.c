// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The state reader: reads into caller memory in parallel chunks, or streams
 * a range in order through the registered pool with reads kept in flight
 * ahead of the consumer. Pieces of the stream form a FIFO of pool buffers;
 * a buffer goes back into the FIFO, with the next read, once consumed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

#define TAG_IOV (-1)

enum piece_state { PIECE_INFLIGHT, PIECE_READY };

struct rl_piece {
	enum piece_state state;
	int err;
	uint64_t off;
	size_t len;
};

struct rl_reader {
	struct rl_engine e;
	uint64_t size;

	/* read_iov */
	unsigned iov_pending;
	int iov_err;

	/* stream */
	struct rl_piece *piece;	/* indexed by pool buffer */
	unsigned *fifo;		/* pool buffer indexes in file order */
	unsigned fifo_head, fifo_len;
	bool holding;		/* the head was handed to the consumer */
	uint64_t s_next, s_end;
	bool s_truncated;	/* the range goes past the end of the file */
	unsigned s_max;		/* reads in flight at most */
};

static void reader_complete(struct rl_engine *e, struct rl_op *op, int err)
{
	struct rl_reader *r = e->owner;
	struct rl_piece *p;

	if (op->tag == TAG_IOV) {
		r->iov_pending--;
		if (err < 0 && !r->iov_err)
			r->iov_err = err;
		return;
	}
	p = &r->piece[op->tag];
	p->state = PIECE_READY;
	p->err = err;
}

int rl_reader_open(struct rl_reader **out, const char *path,
		   const struct rl_io_opts *opts)
{
	struct rl_reader *r;
	struct stat st;
	int fd, dfd = -1, ret;

	*out = NULL;
	if (!path || !*path)
		return -ENOENT;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	ret = rl_engine_init(&r->e, opts, false, reader_complete, r);
	if (ret < 0)
		goto err;
	r->piece = calloc(r->e.pool.count, sizeof(*r->piece));
	r->fifo = calloc(r->e.pool.count, sizeof(*r->fifo));
	if (!r->piece || !r->fifo) {
		ret = -ENOMEM;
		goto err;
	}
	fd = RL_FAILPOINT("io.reader.open") ? -1 : open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		goto err;
	}
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		close(fd);
		goto err;
	}
	if (!S_ISREG(st.st_mode)) {
		ret = S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
		close(fd);
		goto err;
	}
	r->size = (uint64_t)st.st_size;
	if (!(opts && opts->no_direct)) {
		dfd = rl_open_direct_twin(AT_FDCWD, path, O_RDONLY, &st);
		if (dfd < 0)
			dfd = -1;
	}
	rl_engine_set_files(&r->e, dfd, fd);
	r->s_max = r->e.pool.count < r->e.nops ? r->e.pool.count : r->e.nops;
	*out = r;
	return 0;
err:
	rl_engine_fini(&r->e);
	free(r->piece);
	free(r->fifo);
	free(r);
	return ret;
}

uint64_t rl_reader_size(const struct rl_reader *r)
{
	return r->size;
}

enum rl_io_backend rl_reader_backend(const struct rl_reader *r)
{
	return r->e.be->id;
}

int rl_reader_fallback_reason(const struct rl_reader *r)
{
	return r->e.fallback_reason;
}

bool rl_reader_is_direct(const struct rl_reader *r)
{
	return r->e.direct;
}

int rl_reader_read_iov(struct rl_reader *r, const struct iovec *iov,
		       int iovcnt, uint64_t offset)
{
	size_t done, n;
	int i, ret = 0;

	if (iovcnt < 0 || (iovcnt && !iov))
		return -EINVAL;
	r->iov_err = 0;
	for (i = 0; i < iovcnt && !ret; i++) {
		uint8_t *base = iov[i].iov_base;

		for (done = 0; done < iov[i].iov_len; done += n) {
			n = iov[i].iov_len - done;
			if (n > RL_IO_CHUNK)
				n = RL_IO_CHUNK;
			r->iov_pending++;
			ret = rl_engine_start(&r->e, base + done, n, n, offset,
					      -1, TAG_IOV);
			if (ret < 0) {
				r->iov_pending--;
				break;
			}
			offset += n;
			if (r->iov_err)
				break;
		}
		if (r->iov_err)
			break;
	}
	if (!ret)
		ret = rl_engine_submit(&r->e);
	/* Caller memory must not be written after we return. */
	while (r->iov_pending) {
		int w = rl_engine_wait(&r->e, 1);

		if (w < 0)
			return w;
	}
	if (ret < 0)
		return ret;
	return r->iov_err;
}

int rl_reader_read(struct rl_reader *r, void *dst, size_t len,
		   uint64_t offset)
{
	struct iovec iov = { .iov_base = dst, .iov_len = len };

	return rl_reader_read_iov(r, &iov, 1, offset);
}

/* Wait for every stream read in flight and forget the stream. */
static int stream_stop(struct rl_reader *r)
{
	unsigned i, b;

	for (i = 0; i < r->fifo_len; i++) {
		b = r->fifo[(r->fifo_head + i) % r->e.pool.count];
		while (r->piece[b].state == PIECE_INFLIGHT) {
			int ret = rl_engine_wait(&r->e, 1);

			if (ret < 0)
				return ret;
		}
		rl_pool_give(&r->e.pool, b);
	}
	r->fifo_head = 0;
	r->fifo_len = 0;
	r->holding = false;
	return 0;
}

/* Start the next read of the stream into pool buffer @b, at the FIFO's tail. */
static int stream_issue(struct rl_reader *r, unsigned b)
{
	struct rl_piece *p = &r->piece[b];
	size_t len = r->e.pool.buf_size, rlen;
	int ret;

	if (r->s_end - r->s_next < len)
		len = (size_t)(r->s_end - r->s_next);
	/* A whole block for O_DIRECT; the read stops short at end of file. */
	rlen = len;
	if (r->e.direct && rl_aligned(r->s_next))
		rlen = (len + RL_IO_ALIGN - 1) & ~(size_t)(RL_IO_ALIGN - 1);
	p->state = PIECE_INFLIGHT;
	p->err = 0;
	p->off = r->s_next;
	p->len = len;
	r->fifo[(r->fifo_head + r->fifo_len) % r->e.pool.count] = b;
	r->fifo_len++;
	r->s_next += len;
	ret = rl_engine_start(&r->e, rl_pool_buf(&r->e.pool, b), rlen, len,
			      p->off, (int)b, (int)b);
	if (ret < 0) {
		p->state = PIECE_READY;
		p->err = ret;
	}
	return ret;
}

static int stream_fill(struct rl_reader *r)
{
	int b, ret;

	while (r->s_next < r->s_end && r->fifo_len < r->s_max) {
		b = rl_pool_take(&r->e.pool);
		if (b < 0)
			break;
		ret = stream_issue(r, (unsigned)b);
		if (ret < 0)
			return ret;
	}
	return rl_engine_submit(&r->e);
}

int rl_reader_stream_start(struct rl_reader *r, uint64_t offset, uint64_t len)
{
	int ret;

	ret = stream_stop(r);
	if (ret < 0)
		return ret;
	if (offset > r->size || len > r->size - offset) {
		r->s_truncated = true;
		r->s_end = r->size;
	} else {
		r->s_truncated = false;
		r->s_end = offset + len;
	}
	r->s_next = offset < r->s_end ? offset : r->s_end;
	return stream_fill(r);
}

int rl_reader_stream_next(struct rl_reader *r, const void **data, size_t *len)
{
	struct rl_piece *p;
	unsigned b;
	int ret;

	*data = NULL;
	*len = 0;
	if (r->holding) {
		b = r->fifo[r->fifo_head];
		r->fifo_head = (r->fifo_head + 1) % r->e.pool.count;
		r->fifo_len--;
		r->holding = false;
		rl_pool_give(&r->e.pool, b);
		ret = stream_fill(r);
		if (ret < 0)
			return ret;
	}
	if (!r->fifo_len)
		return r->s_truncated ? -ENODATA : 0;
	b = r->fifo[r->fifo_head];
	p = &r->piece[b];
	while (p->state == PIECE_INFLIGHT) {
		ret = rl_engine_wait(&r->e, 1);
		if (ret < 0)
			return ret;
	}
	if (p->err < 0)
		return p->err;
	r->holding = true;
	*data = rl_pool_buf(&r->e.pool, b);
	*len = p->len;
	return 1;
}

void rl_reader_close(struct rl_reader *r)
{
	if (!r)
		return;
	stream_stop(r);
	rl_engine_drain(&r->e);
	rl_engine_fini(&r->e);
	free(r->piece);
	free(r->fifo);
	free(r);
}
