/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Private to io/, in layers that only call downward: the writer and the
 * reader use the engine; the engine owns the table of operations in flight
 * and decides what each result means, and drives one backend (io_uring or
 * pwritev/preadv) through struct rl_backend_ops; engine and backends share
 * the helpers below them (buffer pool, positional I/O, the O_DIRECT twin).
 */
#ifndef RELIVE_IO_INTERNAL_H
#define RELIVE_IO_INTERNAL_H

#include <liburing.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "failpoint.h"
#include "relive/error.h"
#include "relive/io.h"

#define RL_IO_DEFAULT_QD 32u
#define RL_IO_DEFAULT_BUFS 8u
#define RL_IO_DEFAULT_BUF_SIZE (1u << 20)
/* Caller memory (rl_*_iov) is cut in chunks of this size, each one operation. */
#define RL_IO_CHUNK (1u << 20)
#define RL_IO_MAX_QD 4096u
#define RL_IO_MAX_BUFS 1024u

static inline bool rl_aligned(uint64_t v)
{
	return (v & (RL_IO_ALIGN - 1)) == 0;
}

/* ------------------------------------------------------------ pool.c */

/* Who has a pool buffer: nobody, its user, or the kernel (a transfer in flight). */
enum rl_buf_state { RL_BUF_FREE, RL_BUF_HELD, RL_BUF_BUSY };

/* A fixed set of equal, 4096-aligned buffers in one mapping. */
struct rl_pool {
	uint8_t *base;
	size_t map_len;
	size_t buf_size;
	unsigned count;
	unsigned *free; /* stack of free buffer indexes */
	unsigned nfree;
	uint8_t *state; /* enum rl_buf_state of each buffer */
};

int rl_pool_init(struct rl_pool *p, unsigned count, size_t buf_size,
		 bool numa_set, int numa_node);
void rl_pool_fini(struct rl_pool *p);
/* Return: the index of the buffer starting at @buf, or -1. */
int rl_pool_index(const struct rl_pool *p, const void *buf);
/* Return: the index of the buffer holding @addr, or -1. */
int rl_pool_index_of(const struct rl_pool *p, const void *addr);
void *rl_pool_buf(const struct rl_pool *p, unsigned idx);
/* Return: a free buffer's index, now held, or -1 when none is free. */
int rl_pool_take(struct rl_pool *p);
/* Return: 0 with held buffer @idx now busy, or -EINVAL when it is not held. */
int rl_pool_lend(struct rl_pool *p, unsigned idx);
/* Return: true when buffer @idx is held (taken and not lent). */
bool rl_pool_held(const struct rl_pool *p, unsigned idx);
/*
 * rl_pool_give - put a held or busy buffer back among the free ones.
 * Return: 0, or -EINVAL when @idx is already free (a second return) or out
 * of range; the free list is then left as it was.
 */
int rl_pool_give(struct rl_pool *p, unsigned idx);

/* ------------------------------------------------------------ operations */

enum { RL_FD_DIRECT = 0, RL_FD_BUFFERED = 1 };

struct rl_engine;

/* One read or write of a contiguous range; resubmitted until done. */
struct rl_op {
	uint8_t *addr;	/* next byte to transfer */
	size_t len;	/* bytes left to request */
	size_t need;	/* bytes that must still arrive (reads may ask for more) */
	uint64_t off;	/* file offset of addr */
	int buf_idx;	/* pool buffer holding addr, or -1 for caller memory */
	int tag;	/* the owner's */
	bool busy;
	bool on_direct;	/* last issued through the O_DIRECT file */
};

/* A finished transfer as a backend reports it: bytes moved or -errno. */
struct rl_io_done {
	struct rl_op *op;
	int res;
};

/* pio.c: one pwritev/preadv of what is left of @op. Return: bytes or -errno. */
int rl_pio(int fd, const struct rl_op *op, bool writing);

/* ------------------------------------------------------------ backends */

/*
 * What the engine asks of a backend. A backend never calls the engine: it
 * carries out or queues what it is given and reports results in return
 * values; the engine decides what a result means.
 */
struct rl_backend_ops {
	enum rl_io_backend id;
	/* The engine's files are set: register what makes each operation cheaper. */
	void (*attach)(struct rl_engine *e);
	void (*teardown)(struct rl_engine *e);
	/*
	 * Issue @op on e->fd[@which]. Return: 1 when queued (its result comes
	 * from reap), or 0 when carried out at once with the result in *@res.
	 */
	int (*issue)(struct rl_engine *e, struct rl_op *op, int which, int *res);
	/* Return: 0, or -errno (-EAGAIN/-EBUSY: reap first, then again). */
	int (*submit)(struct rl_engine *e);
	/*
	 * Submit what is queued and collect at most @max results into @done,
	 * waiting for one when @wait. Return: the number collected, or -errno.
	 */
	int (*reap)(struct rl_engine *e, struct rl_io_done *done, unsigned max,
		    bool wait);
};

/* ring.c */
extern const struct rl_backend_ops rl_ring_ops;
/* Return: 0 with e->ring ready, or -errno why io_uring cannot be used. */
int rl_ring_setup(struct rl_engine *e, unsigned qd);

/* fallback.c */
extern const struct rl_backend_ops rl_fallback_ops;

/* ------------------------------------------------------------ engine.c */

/* Called once per operation with 0 or a negative errno. */
typedef void (*rl_complete_fn)(struct rl_engine *e, struct rl_op *op, int err);

struct rl_engine {
	const struct rl_backend_ops *be;
	int fallback_reason;
	bool writing;
	bool direct;	/* fd[RL_FD_DIRECT] is open and has not refused I/O */
	int fd[2];

	/* io_uring backend's own */
	struct io_uring ring;
	bool ring_ok;
	bool bufs_registered;
	bool files_registered;
	unsigned queued;	/* issued to the backend, not yet submitted */

	struct rl_pool pool;

	struct rl_op *ops;
	unsigned nops;
	unsigned *free_ops;
	unsigned nfree_ops;
	unsigned inflight;
	struct rl_io_done *done;	/* nops results from one reap */

	rl_complete_fn complete;
	void *owner;
};

int rl_engine_init(struct rl_engine *e, const struct rl_io_opts *opts,
		   bool writing, rl_complete_fn complete, void *owner);
/* Takes ownership of both fds (@fd_direct may be -1). */
int rl_engine_set_files(struct rl_engine *e, int fd_direct, int fd_buffered);
void rl_engine_fini(struct rl_engine *e);
int rl_engine_start(struct rl_engine *e, void *addr, size_t len, size_t need,
		    uint64_t off, int buf_idx, int tag);
int rl_engine_submit(struct rl_engine *e);
int rl_engine_wait(struct rl_engine *e, unsigned min);
int rl_engine_drain(struct rl_engine *e);

/* ------------------------------------------------------------ tmpfile.c */

struct rl_tmpfile {
	int dirfd;	/* O_PATH of the parent directory */
	char *dir;	/* the parent directory as given, for messages */
	char *path;	/* the final path as given, for messages */
	char *name;	/* final name inside dirfd */
	char *tmpname;	/* temporary name inside dirfd, NULL once gone */
};

int rl_tmpfile_create(struct rl_tmpfile *t, const char *path, int *fd);
int rl_tmpfile_commit(struct rl_tmpfile *t, bool sync, struct rl_error *err);
void rl_tmpfile_discard(struct rl_tmpfile *t);

/* direct.c */
int rl_open_direct_twin(int dirfd, const char *name, int flags,
			const struct stat *st);

#endif
