/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Where a RAM block's non-zero bytes can be, found without touching its
 * pages (ram-data.c).
 */
#ifndef RELIVE_RAM_DATA_H
#define RELIVE_RAM_DATA_H

#include <stdint.h>

#include "relive/ram.h"

/* A walk over one block's data ranges, in order. */
struct rl_ram_data {
	const struct rl_ram_block *b;
	int pagemap;		/* /proc/self/pagemap for a private anonymous block, else -1 */
	uint64_t *ent;		/* pagemap entries of pages [first, first + n) */
	uint64_t first, n;
};

/* Start a walk over @b. Never fails: what cannot be told apart counts as data. */
void rl_ram_data_init(struct rl_ram_data *d, const struct rl_ram_block *b);

/*
 * rl_ram_data_next - the first range at or after block offset @off whose
 * bytes may not be zero. Outside the ranges it returns, every byte of the
 * block reads as zero. The ranges are page aligned (or end at the block's
 * end); an unknown backing is one range to the end.
 * Return: 0 with [*@start, *@end), or -ENXIO when the rest is zero.
 */
int rl_ram_data_next(struct rl_ram_data *d, uint64_t off, uint64_t *start, uint64_t *end);

void rl_ram_data_fini(struct rl_ram_data *d);

#endif
