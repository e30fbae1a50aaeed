// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A block's data ranges (ram-data.h). A page that was never written reads
 * as zero, but reading it through the mapping faults it in: a page fault
 * each, and a page allocated for a shared memfd's hole. A save that read
 * every page of a sparse guest to find its zero pages spent nearly all its
 * time there and left the memfd fully allocated. Two backings say where
 * their pages are without being touched:
 *  - an fd mapped shared, from its offset 0 (how relive maps RAM): its
 *    holes (SEEK_DATA, SEEK_HOLE). A hole is zero whoever maps the fd.
 *  - private anonymous memory: a page that is neither present in this
 *    process's page tables nor swapped out (/proc/self/pagemap) has never
 *    been written, as no other process can reach it.
 * Anything else (a private mapping of a file, shared anonymous memory, a
 * file system or kernel that answers neither) is all data.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

#include "ram-data.h"

#define PAGE 4096u
#define PM_PRESENT (1ull << 63)
#define PM_SWAP (1ull << 62)
#define PM_BATCH 8192u	/* entries per read: 64 KiB, 32 MiB of RAM */

void rl_ram_data_init(struct rl_ram_data *d, const struct rl_ram_block *b)
{
	*d = (struct rl_ram_data){ .b = b, .pagemap = -1 };
	if (b->fd < 0 && !b->shared && b->backing == RL_RAM_ANON && b->host &&
	    !((uintptr_t)b->host & (PAGE - 1))) {
		d->ent = malloc(PM_BATCH * sizeof(*d->ent));
		if (d->ent)
			d->pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	}
}

void rl_ram_data_fini(struct rl_ram_data *d)
{
	if (d->pagemap >= 0)
		close(d->pagemap);
	free(d->ent);
	d->pagemap = -1;
	d->ent = NULL;
}

/* A shared fd: its holes. */
static int fd_next(const struct rl_ram_block *b, uint64_t off, uint64_t *start, uint64_t *end)
{
	off_t data = lseek(b->fd, (off_t)off, SEEK_DATA), hole;

	if (data < 0) {
		if (errno == ENXIO)
			return -ENXIO;
		*start = off; /* SEEK_DATA not known here: all data */
		*end = b->size;
		return 0;
	}
	if ((uint64_t)data >= b->size)
		return -ENXIO;
	hole = lseek(b->fd, data, SEEK_HOLE);
	*start = (uint64_t)data & ~(uint64_t)(PAGE - 1);
	if (*start < off)
		*start = off;
	*end = hole < 0 || (uint64_t)hole > b->size ? b->size : (uint64_t)hole;
	return 0;
}

/*
 * Page @i's pagemap entry; on a read error the walk gives up on pagemap
 * (pagemap closed) and the caller counts the rest as data.
 */
static int pm_entry(struct rl_ram_data *d, uint64_t i, uint64_t *e)
{
	uint64_t npages = (d->b->size + PAGE - 1) / PAGE;

	if (i < d->first || i >= d->first + d->n) {
		uint64_t n = npages - i < PM_BATCH ? npages - i : PM_BATCH;
		off_t at = (off_t)(((uintptr_t)d->b->host / PAGE + i) * sizeof(*e));
		ssize_t got = pread(d->pagemap, d->ent, n * sizeof(*e), at);

		if (got < (ssize_t)sizeof(*e)) {
			close(d->pagemap);
			d->pagemap = -1;
			return -EIO;
		}
		d->first = i;
		d->n = (uint64_t)got / sizeof(*e);
	}
	*e = d->ent[i - d->first];
	return 0;
}

static bool pm_data(uint64_t e)
{
	return e & (PM_PRESENT | PM_SWAP);
}

int rl_ram_data_next(struct rl_ram_data *d, uint64_t off, uint64_t *start, uint64_t *end)
{
	const struct rl_ram_block *b = d->b;
	uint64_t npages = (b->size + PAGE - 1) / PAGE, i, e;

	if (off >= b->size)
		return -ENXIO;
	if (b->fd >= 0 && b->shared)
		return fd_next(b, off, start, end);
	if (d->pagemap < 0)
		goto all;
	for (i = off / PAGE; i < npages; i++) {
		if (pm_entry(d, i, &e) < 0)
			goto all;
		if (pm_data(e))
			break;
	}
	if (i == npages)
		return -ENXIO;
	*start = i * PAGE > off ? i * PAGE : off;
	for (i++; i < npages; i++) {
		if (pm_entry(d, i, &e) < 0) {
			*end = b->size;
			return 0;
		}
		if (!pm_data(e))
			break;
	}
	*end = i * PAGE < b->size ? i * PAGE : b->size;
	return 0;
all:
	*start = off;
	*end = b->size;
	return 0;
}
