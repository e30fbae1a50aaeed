// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The state writer: pool buffers or caller memory written at given offsets
 * into a temporary file, then flushed, sized, optionally synced and renamed
 * over the final name. The first failed write makes the writer unusable;
 * commit and abort then remove the temporary file.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "internal.h"
#include "error-internal.h"

struct rl_writer {
	struct rl_engine e;
	struct rl_tmpfile tf;
	bool sync;
	bool prealloc;		/* fallocate() before O_DIRECT writes */
	uint64_t ahead_start;	/* [ahead_start, ahead_end) reserved for pool writes */
	uint64_t ahead_end;
	uint64_t pool_end;	/* pool writes reached here in that range */
	uint64_t iov_lo, iov_hi; /* span of iovec writes past pool_end */
	uint64_t hint_end;	/* [0, hint_end) allocated at open, never punched */
	int error; /* first failed write, sticky */
};

/*
 * O_DIRECT writes past the end of the file, or into a hole, change the
 * file's block map, which file systems like ext4 do only under an exclusive
 * inode lock: io_uring then cannot issue them without blocking and hands
 * them, one at a time, to a worker. Allocating first makes each write an
 * overwrite of allocated (unwritten) blocks, which goes to the device at
 * once and in parallel with the others.
 *
 * fallocate() waits for every O_DIRECT write in flight, so it is called
 * rarely: ahead of pool writes in growing steps (they form the dense state
 * stream), once per large iovec call (exactly its range). What was reserved
 * ahead and never written is punched out again at commit, so ranges the
 * caller leaves out stay holes.
 */
#define AHEAD_MIN (64ull << 20)
#define AHEAD_MAX (1ull << 30)

static int writer_fallocate(struct rl_writer *w, int mode, uint64_t off, uint64_t len)
{
	if (fallocate(w->e.fd[RL_FD_BUFFERED], mode, (off_t)off, (off_t)len) == 0)
		return 0;
	/* Not supported: stop asking. Out of space or over a limit: the write will say so. */
	if (errno == EOPNOTSUPP || errno == ENOSYS)
		w->prealloc = false;
	return -errno;
}

static void punch(struct rl_writer *w, uint64_t off, uint64_t end)
{
	if (end > off)
		fallocate(w->e.fd[RL_FD_BUFFERED],
			  FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			  (off_t)off, (off_t)(end - off));
}

/*
 * Give back reserved blocks in [@off, @end) that no pool write will fill,
 * so they stay holes; never where caller memory was written (the span
 * [iov_lo, iov_hi) of iovec writes past the pool writes).
 */
static void writer_punch(struct rl_writer *w, uint64_t off, uint64_t end)
{
	/* The caller asked for [0, size_hint) to be allocated: it stays so. */
	if (off < w->hint_end)
		off = w->hint_end;
	if (w->iov_hi <= w->iov_lo || end <= w->iov_lo || off >= w->iov_hi) {
		punch(w, off, end);
		return;
	}
	punch(w, off, w->iov_lo);
	punch(w, w->iov_hi > off ? w->iov_hi : off, end);
}

/*
 * Pool writes fill [ahead_start, pool_end); [pool_end, ahead_end) is
 * reserved for the next ones. The bookkeeping goes on when O_DIRECT stops,
 * so that nothing written is ever punched out.
 */
static void writer_reserve_pool(struct rl_writer *w, uint64_t off, uint64_t len)
{
	uint64_t end = off + len, step;

	if (end <= w->pool_end)
		return;
	if (off > w->pool_end) {
		/* A jump: the stream will not fill what it skips. */
		writer_punch(w, w->pool_end, off < w->ahead_end ? off : w->ahead_end);
		if (off >= w->ahead_end)
			w->ahead_start = w->ahead_end = off;
	}
	w->pool_end = end;
	if (w->pool_end >= w->iov_hi)
		w->iov_lo = w->iov_hi = 0;
	if (!w->prealloc || !w->e.direct || end <= w->ahead_end)
		return;
	/* Doubling: a handful of calls (and queue drains) for gigabytes. */
	step = end - w->ahead_start;
	step = step < AHEAD_MIN ? AHEAD_MIN : step > AHEAD_MAX ? AHEAD_MAX : step;
	step = (end + step + RL_IO_ALIGN - 1) & ~(uint64_t)(RL_IO_ALIGN - 1);
	if (writer_fallocate(w, 0, w->ahead_end, step - w->ahead_end) == 0)
		w->ahead_end = step;
	else if (writer_fallocate(w, 0, w->ahead_end, end - w->ahead_end) == 0)
		w->ahead_end = end;
}

static void writer_reserve_iov(struct rl_writer *w, uint64_t off, uint64_t len)
{
	uint64_t end = off + len, lo;

	if (end <= w->hint_end)
		return;
	if (off < w->ahead_end && end > w->pool_end) {
		/* Caller memory goes into the reserve: only it knows its holes. */
		writer_punch(w, w->pool_end, w->ahead_end);
		w->ahead_end = w->pool_end;
	}
	if (end > w->pool_end) {
		lo = off > w->pool_end ? off : w->pool_end;
		if (w->iov_hi <= w->iov_lo) {
			w->iov_lo = lo;
			w->iov_hi = end;
		} else {
			w->iov_lo = lo < w->iov_lo ? lo : w->iov_lo;
			w->iov_hi = end > w->iov_hi ? end : w->iov_hi;
		}
	}
	if (!w->prealloc || !w->e.direct || len < 2 * RL_IO_CHUNK)
		return;
	writer_fallocate(w, 0, off, len);
}

static void writer_complete(struct rl_engine *e, struct rl_op *op, int err)
{
	struct rl_writer *w = e->owner;

	if (err < 0 && !w->error)
		w->error = err;
	if (op->buf_idx >= 0)
		rl_pool_give(&e->pool, (unsigned)op->buf_idx);
}

int rl_writer_open(struct rl_writer **out, const char *path,
		   const struct rl_io_opts *opts)
{
	struct rl_writer *w;
	struct statfs sfs;
	struct stat st;
	int fd = -1, dfd = -1, ret;

	*out = NULL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->tf.dirfd = -1;
	ret = rl_engine_init(&w->e, opts, true, writer_complete, w);
	if (ret < 0)
		goto err_engine;
	w->sync = opts && opts->sync;

	ret = rl_tmpfile_create(&w->tf, path, &fd);
	if (ret < 0)
		goto err_engine;
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		close(fd);
		goto err_tmp;
	}
	if (!(opts && opts->no_direct)) {
		dfd = rl_open_direct_twin(w->tf.dirfd, w->tf.tmpname, O_WRONLY, &st);
		if (dfd < 0)
			dfd = -1;
	}
	rl_engine_set_files(&w->e, dfd, fd);
	/*
	 * tmpfs writes take the inode lock whatever the range, and allocating
	 * there means clearing memory: reserving ahead would only cost.
	 */
	w->prealloc = fstatfs(fd, &sfs) < 0 || sfs.f_type != TMPFS_MAGIC;
	/* Past the end of the real size, commit cuts it back. */
	if (opts && opts->size_hint && dfd >= 0 &&
	    writer_fallocate(w, 0, 0, opts->size_hint) == 0)
		w->ahead_end = w->hint_end = opts->size_hint;
	*out = w;
	return 0;
err_tmp:
	rl_tmpfile_discard(&w->tf);
err_engine:
	rl_engine_fini(&w->e);
	free(w);
	return ret;
}

enum rl_io_backend rl_writer_backend(const struct rl_writer *w)
{
	return w->e.be->id;
}

int rl_writer_fallback_reason(const struct rl_writer *w)
{
	return w->e.fallback_reason;
}

bool rl_writer_is_direct(const struct rl_writer *w)
{
	return w->e.direct;
}

size_t rl_writer_buf_size(const struct rl_writer *w)
{
	return w->e.pool.buf_size;
}

int rl_writer_buf_get(struct rl_writer *w, void **buf)
{
	int idx, ret;

	*buf = NULL;
	for (;;) {
		if (w->error)
			return w->error;
		idx = rl_pool_take(&w->e.pool);
		if (idx >= 0)
			break;
		/* Every buffer is in the caller's hands: waiting would hang. */
		if (!w->e.inflight)
			return -ENOBUFS;
		ret = rl_engine_wait(&w->e, 1);
		if (ret < 0)
			return ret;
	}
	*buf = rl_pool_buf(&w->e.pool, (unsigned)idx);
	return 0;
}

int rl_writer_buf_put(struct rl_writer *w, void *buf)
{
	int idx = rl_pool_index(&w->e.pool, buf);

	/* Only a buffer the caller holds: not one in flight, not one put back. */
	if (idx < 0 || !rl_pool_held(&w->e.pool, (unsigned)idx))
		return -EINVAL;
	return rl_pool_give(&w->e.pool, (unsigned)idx);
}

int rl_writer_buf_submit(struct rl_writer *w, void *buf, size_t len,
			 uint64_t offset)
{
	int idx = rl_pool_index(&w->e.pool, buf);
	int ret;

	if (idx < 0 || len > w->e.pool.buf_size ||
	    !rl_pool_held(&w->e.pool, (unsigned)idx))
		return -EINVAL;
	if (w->error) {
		rl_pool_give(&w->e.pool, (unsigned)idx);
		return w->error;
	}
	if (!len) {
		rl_pool_give(&w->e.pool, (unsigned)idx);
		return 0;
	}
	writer_reserve_pool(w, offset, len);
	rl_pool_lend(&w->e.pool, (unsigned)idx);
	ret = rl_engine_start(&w->e, buf, len, len, offset, idx, 0);
	if (ret < 0) {
		rl_pool_give(&w->e.pool, (unsigned)idx);
		return ret;
	}
	/* Hand it to the kernel now: the device works while the caller fills the next. */
	ret = rl_engine_submit(&w->e);
	if (ret < 0)
		return ret;
	return w->error;
}

int rl_writer_write_iov(struct rl_writer *w, const struct iovec *iov,
			int iovcnt, uint64_t offset)
{
	size_t done, n;
	int i, ret;

	if (iovcnt < 0 || (iovcnt && !iov))
		return -EINVAL;
	for (i = 0, done = 0; i < iovcnt; i++)
		done += iov[i].iov_len;
	writer_reserve_iov(w, offset, done);
	for (i = 0; i < iovcnt; i++) {
		uint8_t *base = iov[i].iov_base;

		for (done = 0; done < iov[i].iov_len; done += n) {
			if (w->error)
				return w->error;
			n = iov[i].iov_len - done;
			if (n > RL_IO_CHUNK)
				n = RL_IO_CHUNK;
			ret = rl_engine_start(&w->e, base + done, n, n, offset, -1, 0);
			if (ret < 0)
				return ret;
			offset += n;
		}
	}
	ret = rl_engine_submit(&w->e);
	if (ret < 0)
		return ret;
	return w->error;
}

int rl_writer_flush(struct rl_writer *w)
{
	int ret = rl_engine_drain(&w->e);

	if (ret < 0)
		return ret;
	return w->error;
}

static void writer_free(struct rl_writer *w)
{
	rl_engine_fini(&w->e);
	rl_tmpfile_discard(&w->tf);
	free(w);
}

int rl_writer_commit(struct rl_writer *w, uint64_t size, struct rl_error *err)
{
	int fd, ret;

	ret = rl_writer_flush(w);
	if (ret < 0)
		goto out;
	fd = w->e.fd[RL_FD_BUFFERED];
	writer_punch(w, w->pool_end, w->ahead_end);
	if (RL_FAILPOINT("io.writer.ftruncate") || ftruncate(fd, (off_t)size) < 0) {
		ret = -errno;
		goto out;
	}
	if (w->sync && (RL_FAILPOINT("io.writer.fdatasync") || fdatasync(fd) < 0)) {
		ret = -errno;
		goto out;
	}
	/* It names what failed itself. */
	ret = rl_tmpfile_commit(&w->tf, w->sync, err);
	writer_free(w);
	return ret;
out:
	rl_err_set(err, "%s: %s", w->tf.path, strerror(-ret));
	writer_free(w);
	return ret;
}

void rl_writer_abort(struct rl_writer *w)
{
	if (!w)
		return;
	rl_engine_drain(&w->e);
	writer_free(w);
}
