// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The RAM block registry: a growable array of named blocks, checked for
 * unique names and non-overlapping guest-physical ranges as they are added.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "relive/ram.h"

void rl_ram_registry_init(struct rl_ram_registry *reg)
{
	memset(reg, 0, sizeof(*reg));
}

void rl_ram_registry_free(struct rl_ram_registry *reg)
{
	free(reg->blocks);
	rl_ram_registry_init(reg);
}

struct rl_ram_block *rl_ram_find(const struct rl_ram_registry *reg,
				 const char *name)
{
	for (unsigned i = 0; i < reg->count; i++)
		if (!strcmp(reg->blocks[i].name, name))
			return &reg->blocks[i];
	return NULL;
}

/* The guest-physical ranges of @b: one, or two when it is split. */
static unsigned ram_block_ranges(const struct rl_ram_block *b,
				 uint64_t start[2], uint64_t end[2])
{
	if (!b->split) {
		start[0] = b->gpa;
		end[0] = b->gpa + b->size;
		return 1;
	}
	start[0] = b->gpa;
	end[0] = b->gpa + b->split;
	start[1] = b->split_gpa;
	end[1] = b->split_gpa + (b->size - b->split);
	return 2;
}

static bool ram_blocks_overlap(const struct rl_ram_block *a,
			       const struct rl_ram_block *b)
{
	uint64_t as[2], ae[2], bs[2], be[2];
	unsigned na = ram_block_ranges(a, as, ae);
	unsigned nb = ram_block_ranges(b, bs, be);

	for (unsigned i = 0; i < na; i++)
		for (unsigned j = 0; j < nb; j++)
			if (as[i] < be[j] && bs[j] < ae[i])
				return true;
	return false;
}

int rl_ram_add(struct rl_ram_registry *reg, const struct rl_ram_block *b)
{
	size_t nlen = strnlen(b->name, RL_RAM_NAME_MAX);

	if (!nlen || nlen >= RL_RAM_NAME_MAX)
		return -EINVAL;
	if (!b->size || (b->size & 4095) || b->gpa + b->size < b->gpa)
		return -EINVAL;
	if (b->page_size &&
	    (b->page_size < 4096 || (b->page_size & (b->page_size - 1))))
		return -EINVAL;
	if (strnlen(b->path, sizeof(b->path)) >= sizeof(b->path))
		return -EINVAL;
	if (rl_ram_find(reg, b->name))
		return -EEXIST;
	if (b->split && (b->split >= b->size || (b->split & 4095) ||
			 (b->split_gpa & 4095) ||
			 b->split_gpa + (b->size - b->split) < b->split_gpa ||
			 (b->split_gpa < b->gpa + b->split &&
			  b->gpa < b->split_gpa + (b->size - b->split))))
		return -EINVAL;
	for (unsigned i = 0; i < reg->count; i++)
		if (ram_blocks_overlap(b, &reg->blocks[i]))
			return -ERANGE;
	if (reg->count == reg->cap) {
		unsigned cap = reg->cap ? reg->cap * 2 : 8;
		struct rl_ram_block *nb;

		nb = realloc(reg->blocks, cap * sizeof(*nb));
		if (!nb)
			return -ENOMEM;
		reg->blocks = nb;
		reg->cap = cap;
	}
	reg->blocks[reg->count] = *b;
	if (!reg->blocks[reg->count].page_size)
		reg->blocks[reg->count].page_size = 4096;
	reg->count++;
	return 0;
}

const char *rl_ram_backend_type(const struct rl_ram_block *b)
{
	if (b->implicit)
		return "RAM block";
	switch (b->backing) {
	case RL_RAM_MEMFD:
		return "memory-backend-memfd";
	case RL_RAM_FILE:
		return "memory-backend-file";
	case RL_RAM_ANON:
	default:
		return "memory-backend-ram";
	}
}
