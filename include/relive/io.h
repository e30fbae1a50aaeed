/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * relive io: the state writer and reader.
 *
 * One io_uring per writer or reader, a fixed pool of registered buffers and
 * registered files, O_DIRECT where the file system takes it, and the same API
 * over pwritev/preadv where io_uring cannot be used. Every function returns 0
 * (or a count) on success and a negative errno on failure; nothing here prints.
 *
 * Ownership: no fd crosses this interface. A writer or reader opens its
 * files by path and closes them itself, and owns its buffer pool. A pool
 * buffer from rl_writer_buf_get() is the caller's until it passes it to
 * rl_writer_buf_submit() (then the writer's, and the kernel's until the
 * write completes) or rl_writer_buf_put(). Memory given to
 * rl_writer_write_iov() stays the caller's, read until flush or commit
 * returns; memory given to rl_reader_read*() is written only until the
 * call returns. A piece from rl_reader_stream_next() is the reader's, lent
 * until the next call on it.
 */
#ifndef RELIVE_IO_H
#define RELIVE_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "relive/export.h"
#include "relive/error.h"

#define RL_IO_ALIGN 4096u

/* numa_node values besides a node number */
#define RL_NUMA_NONE (-1) /* leave placement to the kernel */
#define RL_NUMA_AUTO (-2) /* the node of the calling thread */

enum rl_io_backend {
	RL_IO_URING = 0,
	RL_IO_FALLBACK = 1, /* pwritev/preadv */
};

/*
 * Options of a writer or reader. Zero-initialise and set what you need: a
 * zero field means the default given beside it.
 */
struct rl_io_opts {
	unsigned queue_depth; /* writes/reads in flight; default 32 */
	unsigned buf_count;   /* registered buffers in the pool; default 8 */
	size_t buf_size;      /* bytes per buffer, multiple of 4096; default 1 MiB */
	bool numa_set;        /* place the pool: numa_node is meaningful */
	int numa_node;        /* a node number or RL_NUMA_AUTO */
	bool no_direct;       /* never try O_DIRECT */
	bool force_fallback;  /* do not use io_uring even where it works */
	bool sync;            /* fdatasync the file before commit (cpr-reboot) */
	uint64_t size_hint;   /* writer: expected file size; [0, size_hint)
			       * is allocated at open (ranges left unwritten
			       * read as zeros but take disk space), so that
			       * O_DIRECT writes need no allocation in the
			       * pause (0: allocate while writing) */
};

struct rl_writer;
struct rl_reader;

/*
 * rl_io_probe - can io_uring be used by this process?
 * Return: 0 if a ring can be set up, else the negative errno that stops it
 * (-ENOSYS, -EPERM when /proc/sys/kernel/io_uring_disabled or seccomp forbids it).
 */
RL_EXPORT int rl_io_probe(void);

/* Return: a constant string naming the backend, "io_uring" or "pwritev". */
RL_EXPORT const char *rl_io_backend_name(enum rl_io_backend backend);

/* ---------------------------------------------------------------- writer */

/*
 * rl_writer_open - start writing @path.
 * The data goes to a temporary file in the same directory, created 0600 with
 * O_EXCL|O_NOFOLLOW; rl_writer_commit() renames it over @path. @path itself is
 * never opened, so a symlink at @path is replaced, not followed.
 * Return: 0 and *@out, or -errno (-ENOENT missing parent, -EISDIR @path is a
 * directory, -ENOTDIR, -EACCES, ...). Nothing is left behind on failure.
 */
RL_EXPORT int rl_writer_open(struct rl_writer **out, const char *path,
			     const struct rl_io_opts *opts);

/* Return: the backend this writer ended up with. */
RL_EXPORT enum rl_io_backend rl_writer_backend(const struct rl_writer *w);

/*
 * Return: the negative errno that made this writer fall back to pwritev
 * (0 when it uses io_uring or when the fallback was forced by an option).
 */
RL_EXPORT int rl_writer_fallback_reason(const struct rl_writer *w);

/* Return: true if writes of aligned buffers at aligned offsets bypass the page cache. */
RL_EXPORT bool rl_writer_is_direct(const struct rl_writer *w);

/* Return: the size of each pool buffer (rl_io_opts.buf_size after defaults). */
RL_EXPORT size_t rl_writer_buf_size(const struct rl_writer *w);

/*
 * rl_writer_buf_get - take a free buffer from the registered pool.
 * Waits for a write in flight to complete when none is free.
 * Return: 0 and *@buf (rl_writer_buf_size() bytes, 4096-aligned), -ENOBUFS
 * when every buffer is already held by the caller, or -errno from an earlier
 * failed write (the writer is then unusable: abort it).
 */
RL_EXPORT int rl_writer_buf_get(struct rl_writer *w, void **buf);

/*
 * rl_writer_buf_submit - write the first @len bytes of @buf at @offset.
 * @buf must come from rl_writer_buf_get(); ownership returns to the pool
 * once the write completes. Short writes and -EAGAIN are resubmitted.
 * Writes that are not 4096-aligned in offset and length go through the
 * buffered file. Return: 0 or -errno (-EINVAL when the caller does not hold
 * @buf: the buffer then stays where it is).
 */
RL_EXPORT int rl_writer_buf_submit(struct rl_writer *w, void *buf, size_t len,
				   uint64_t offset);

/*
 * rl_writer_buf_put - give back a buffer from rl_writer_buf_get() unwritten.
 * Return: 0, or -EINVAL when the caller does not hold @buf (never taken,
 * already put back, or submitted); the pool is then unchanged.
 */
RL_EXPORT int rl_writer_buf_put(struct rl_writer *w, void *buf);

/*
 * rl_writer_write_iov - write caller memory (guest RAM) at @offset.
 * The regions are split in chunks and written in parallel, in any order,
 * with other writes. The memory must stay valid and unchanged until
 * rl_writer_flush() or rl_writer_commit() returns.
 * Return: 0 or -errno.
 */
RL_EXPORT int rl_writer_write_iov(struct rl_writer *w, const struct iovec *iov,
				  int iovcnt, uint64_t offset);

/*
 * rl_writer_flush - wait for every write submitted so far.
 * Return: 0, or the first write error (-ENOSPC, -EIO, -EFBIG, ...).
 */
RL_EXPORT int rl_writer_flush(struct rl_writer *w);

/*
 * rl_writer_commit - flush, set the file size to @size (so a padded last
 * block does not count), fdatasync if opts.sync, rename over the final name
 * and, with opts.sync, fsync its directory.
 * Frees @w whatever the outcome. A failure before the rename removes the
 * temporary file and leaves the final name untouched. When only the
 * directory sync fails, the new file stays under the final name (complete
 * and synced; the old one is already replaced) and the error says so.
 * Return: 0 or -errno, with a message naming the path (and the directory
 * when its sync failed) in @err (NULL: no message wanted).
 */
RL_EXPORT int rl_writer_commit(struct rl_writer *w, uint64_t size, struct rl_error *err);

/*
 * rl_writer_abort - cancel: wait for writes in flight, remove the temporary
 * file, free @w. The final name is untouched. NULL is fine.
 */
RL_EXPORT void rl_writer_abort(struct rl_writer *w);

/* ---------------------------------------------------------------- reader */

/*
 * rl_reader_open - open @path for reading (O_NOFOLLOW on the last component).
 * Return: 0 and *@out, or -errno.
 */
RL_EXPORT int rl_reader_open(struct rl_reader **out, const char *path,
			     const struct rl_io_opts *opts);

/* Return: the file's size in bytes at open. */
RL_EXPORT uint64_t rl_reader_size(const struct rl_reader *r);

/* Return: the backend this reader ended up with. */
RL_EXPORT enum rl_io_backend rl_reader_backend(const struct rl_reader *r);

/*
 * Return: the negative errno that made this reader fall back to preadv
 * (0 when it uses io_uring or when the fallback was forced by an option).
 */
RL_EXPORT int rl_reader_fallback_reason(const struct rl_reader *r);

/* Return: true if aligned reads bypass the page cache. */
RL_EXPORT bool rl_reader_is_direct(const struct rl_reader *r);

/*
 * rl_reader_read - read exactly @len bytes at @offset into @dst.
 * Return: 0, -ENODATA if the file ends first, or -errno.
 */
RL_EXPORT int rl_reader_read(struct rl_reader *r, void *dst, size_t len,
			     uint64_t offset);

/*
 * rl_reader_read_iov - read into caller memory (guest RAM) from @offset,
 * in parallel chunks. Return: 0, -ENODATA if the file ends first, or -errno.
 */
RL_EXPORT int rl_reader_read_iov(struct rl_reader *r, const struct iovec *iov,
				 int iovcnt, uint64_t offset);

/*
 * rl_reader_stream_start - read [@offset, @offset + @len) sequentially,
 * with reads kept in flight ahead of the consumer in registered buffers.
 * Return: 0 or -errno.
 */
RL_EXPORT int rl_reader_stream_start(struct rl_reader *r, uint64_t offset, uint64_t len);

/*
 * rl_reader_stream_next - the next piece of the range in order.
 * *@data stays valid until the next call on @r.
 * Return: 1 with *@data and *@len, 0 at the end of the range,
 * -ENODATA if the file ends first, or -errno.
 */
RL_EXPORT int rl_reader_stream_next(struct rl_reader *r, const void **data, size_t *len);

/* rl_reader_close - free @r. NULL is fine. */
RL_EXPORT void rl_reader_close(struct rl_reader *r);

#endif
