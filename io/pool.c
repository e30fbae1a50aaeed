// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The registered buffer pool: a fixed number of equal 4096-aligned buffers
 * in one anonymous mapping, placed on a NUMA node with mbind() when asked.
 * Its size never grows, whatever the amount of data written or read.
 */
#include <errno.h>
#include <numaif.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"

#define HUGE_ALIGN (2ul << 20)

/*
 * Placement is two system calls, not libnuma: a process that links libnuma
 * runs its constructor (about 25 system calls reading /proc and /sys) at
 * every start, and in a VMM that is inside every cpr-exec update's pause.
 * getcpu() names the caller's node; mbind() itself checks that a node is
 * online. Return: 0, or -EINVAL when @node is not a node of this machine.
 */
static int pool_place(void *addr, size_t len, int node)
{
	unsigned long mask[16] = { 0 };
	unsigned cpu, here;

	if (node == RL_NUMA_NONE)
		return 0;
	if (node == RL_NUMA_AUTO) {
		if (syscall(SYS_getcpu, &cpu, &here, NULL) < 0)
			return 0; /* no node to prefer: the kernel's choice */
		node = (int)here;
	}
	if (node < 0 || (size_t)node >= sizeof(mask) * 8)
		return -EINVAL;
	mask[node / (8 * sizeof(mask[0]))] |= 1ul << (node % (8 * sizeof(mask[0])));
	if (syscall(SYS_mbind, addr, len, MPOL_PREFERRED, mask, sizeof(mask) * 8, 0) == 0)
		return 0;
	/* a kernel without NUMA has node 0 only */
	if (errno == ENOSYS)
		return node == 0 ? 0 : -EINVAL;
	return -errno;
}

/*
 * Map the pool on a 2 MiB boundary, so that where transparent huge pages
 * are always on, registering (pinning) it takes a few huge pages instead of
 * thousands of small ones. No MADV_HUGEPAGE: with the usual defrag=madvise
 * that would allow direct compaction, a stall of tens of milliseconds.
 */
static int pool_map(struct rl_pool *p)
{
	size_t len = p->map_len + HUGE_ALIGN;
	uint8_t *m, *a;

	m = RL_FAILPOINT("io.pool.mmap") ? MAP_FAILED : mmap(NULL, len, PROT_READ | PROT_WRITE,
							    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return -errno;
	a = (uint8_t *)(((uintptr_t)m + HUGE_ALIGN - 1) & ~(uintptr_t)(HUGE_ALIGN - 1));
	if (a > m)
		munmap(m, (size_t)(a - m));
	if (a + p->map_len < m + len)
		munmap(a + p->map_len, (size_t)(m + len - (a + p->map_len)));
	p->base = a;
	return 0;
}

int rl_pool_init(struct rl_pool *p, unsigned count, size_t buf_size,
		 bool numa_set, int numa_node)
{
	unsigned i;
	int ret;

	memset(p, 0, sizeof(*p));
	if (!count || count > RL_IO_MAX_BUFS || !buf_size ||
	    !rl_aligned(buf_size) || buf_size > (1ul << 30))
		return -EINVAL;
	p->map_len = (size_t)count * buf_size;
	ret = pool_map(p);
	if (ret < 0)
		return ret;
	if (numa_set) {
		ret = pool_place(p->base, p->map_len, numa_node);
		if (ret < 0)
			goto err;
	}
	/*
	 * No memset: registration faults the pages in (under the policy set
	 * above), and clearing them twice costs more than the writes of a
	 * small state file.
	 */
	p->free = calloc(count, sizeof(*p->free));
	p->state = calloc(count, sizeof(*p->state));
	if (!p->free || !p->state) {
		ret = -ENOMEM;
		goto err;
	}
	p->buf_size = buf_size;
	p->count = count;
	for (i = 0; i < count; i++)
		p->free[i] = count - 1 - i;
	p->nfree = count;
	return 0;
err:
	munmap(p->base, p->map_len);
	free(p->free);
	free(p->state);
	memset(p, 0, sizeof(*p));
	return ret;
}

void rl_pool_fini(struct rl_pool *p)
{
	if (p->base)
		munmap(p->base, p->map_len);
	free(p->free);
	free(p->state);
	memset(p, 0, sizeof(*p));
}

int rl_pool_index_of(const struct rl_pool *p, const void *addr)
{
	const uint8_t *a = addr;

	if (!p->base || a < p->base || a >= p->base + p->map_len)
		return -1;
	return (int)((size_t)(a - p->base) / p->buf_size);
}

int rl_pool_index(const struct rl_pool *p, const void *buf)
{
	int idx = rl_pool_index_of(p, buf);

	if (idx < 0 || (const uint8_t *)buf != p->base + (size_t)idx * p->buf_size)
		return -1;
	return idx;
}

void *rl_pool_buf(const struct rl_pool *p, unsigned idx)
{
	return p->base + (size_t)idx * p->buf_size;
}

int rl_pool_take(struct rl_pool *p)
{
	unsigned idx;

	if (!p->nfree)
		return -1;
	idx = p->free[--p->nfree];
	p->state[idx] = RL_BUF_HELD;
	return (int)idx;
}

int rl_pool_lend(struct rl_pool *p, unsigned idx)
{
	if (!rl_pool_held(p, idx))
		return -EINVAL;
	p->state[idx] = RL_BUF_BUSY;
	return 0;
}

bool rl_pool_held(const struct rl_pool *p, unsigned idx)
{
	return idx < p->count && p->state[idx] == RL_BUF_HELD;
}

/*
 * A second return would put one index on the free stack twice: it would be
 * handed out twice, possibly while the kernel still writes from it.
 */
int rl_pool_give(struct rl_pool *p, unsigned idx)
{
	if (idx >= p->count || p->state[idx] == RL_BUF_FREE)
		return -EINVAL;
	p->state[idx] = RL_BUF_FREE;
	p->free[p->nfree++] = idx;
	return 0;
}
