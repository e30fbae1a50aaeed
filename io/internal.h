/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Private to io/: the pieces the writer and the reader share. The engine
 * owns the ring (or the pwritev/preadv fallback), the buffer pool and the
 * table of operations in flight; the writer and reader decide what to do
 * with each finished operation through a completion callback.
 */
#ifndef RELIVE_IO_INTERNAL_H
#define RELIVE_IO_INTERNAL_H

#include <liburing.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

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

/* A fixed set of equal, 4096-aligned buffers in one mapping. */
struct rl_pool {
	uint8_t *base;
	size_t map_len;
	size_t buf_size;
	unsigned count;
	unsigned *free; /* stack of free buffer indexes */
	unsigned nfree;
};

int rl_pool_init(struct rl_pool *p, unsigned count, size_t buf_size,
		 bool numa_set, int numa_node);
void rl_pool_fini(struct rl_pool *p);
/* Return: the index of the buffer starting at @buf, or -1. */
int rl_pool_index(const struct rl_pool *p, const void *buf);
/* Return: the index of the buffer holding @addr, or -1. */
int rl_pool_index_of(const struct rl_pool *p, const void *addr);
void *rl_pool_buf(const struct rl_pool *p, unsigned idx);
/* Return: a free buffer's index, or -1 when none is free. */
int rl_pool_take(struct rl_pool *p);
void rl_pool_give(struct rl_pool *p, unsigned idx);

/* ------------------------------------------------------------ engine */

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
	bool again;	/* fallback: issue once more */
};

/* Called once per operation with 0 or a negative errno. */
typedef void (*rl_complete_fn)(struct rl_engine *e, struct rl_op *op, int err);

struct rl_engine {
	enum rl_io_backend backend;
	int fallback_reason;
	bool writing;
	bool direct;	/* fd[RL_FD_DIRECT] is open and has not refused I/O */
	int fd[2];

	struct io_uring ring;
	bool ring_ok;
	bool bufs_registered;
	bool files_registered;
	unsigned queued;	/* sqes prepared, not yet submitted */
	bool fb_running;	/* fallback: inside the issue loop */

	struct rl_pool pool;

	struct rl_op *ops;
	unsigned nops;
	unsigned *free_ops;
	unsigned nfree_ops;
	unsigned inflight;

	rl_complete_fn complete;
	void *owner;
};

/* engine.c */
int rl_engine_init(struct rl_engine *e, const struct rl_io_opts *opts,
		   bool writing, rl_complete_fn complete, void *owner);
/* Takes ownership of both fds (@fd_direct may be -1). */
int rl_engine_set_files(struct rl_engine *e, int fd_direct, int fd_buffered);
void rl_engine_fini(struct rl_engine *e);
int rl_engine_start(struct rl_engine *e, void *addr, size_t len, size_t need,
		    uint64_t off, int buf_idx, int tag);
void rl_engine_issue(struct rl_engine *e, struct rl_op *op);
void rl_engine_finish(struct rl_engine *e, struct rl_op *op, int res);
void rl_engine_progress(struct rl_engine *e, struct rl_op *op, int res);
int rl_engine_submit(struct rl_engine *e);
int rl_engine_wait(struct rl_engine *e, unsigned min);
int rl_engine_drain(struct rl_engine *e);
int rl_engine_pick_fd(const struct rl_engine *e, const struct rl_op *op);

/* ring.c */
int rl_ring_setup(struct rl_engine *e, unsigned qd);
void rl_ring_register(struct rl_engine *e);
void rl_ring_teardown(struct rl_engine *e);
void rl_ring_issue(struct rl_engine *e, struct rl_op *op);
int rl_ring_submit(struct rl_engine *e);
int rl_ring_reap(struct rl_engine *e, unsigned min);

/* fallback.c */
void rl_fallback_issue(struct rl_engine *e, struct rl_op *op);

/* ------------------------------------------------------------ tmpfile.c */

struct rl_tmpfile {
	int dirfd;	/* O_PATH of the parent directory */
	char *name;	/* final name inside dirfd */
	char *tmpname;	/* temporary name inside dirfd, NULL once gone */
};

int rl_tmpfile_create(struct rl_tmpfile *t, const char *path, int *fd);
int rl_tmpfile_commit(struct rl_tmpfile *t, bool sync);
void rl_tmpfile_discard(struct rl_tmpfile *t);

/* direct.c */
int rl_open_direct_twin(int dirfd, const char *name, int flags,
			const struct stat *st);

#endif
