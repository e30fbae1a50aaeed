/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * relive RAM blocks: the registry of a VM's named RAM blocks (guest RAM,
 * ROMs, anything the guest sees as memory), with where each one lives on the
 * host. The state stream saves and loads blocks through it and the blocker
 * check reads it; the VMM fills it as it creates its memory.
 *
 * Ownership: the registry owns only its array of blocks. Each block's fd
 * and mapping stay the VMM's: the registry borrows them and never closes
 * or unmaps anything.
 */
#ifndef RELIVE_RAM_H
#define RELIVE_RAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "relive/export.h"

#define RL_RAM_NAME_MAX 32 /* including the NUL */

enum rl_ram_backing {
	RL_RAM_ANON = 0,  /* anonymous mmap: memory-backend-ram, or implicit RAM */
	RL_RAM_MEMFD = 1, /* memory-backend-memfd, or implicit RAM with aux-ram-share */
	RL_RAM_FILE = 2,  /* memory-backend-file (mem-path=) */
};

/*
 * struct rl_ram_block - one RAM block.
 * @name: the block's id (the memory-backend object's id, or "pc.rom" ...);
 *        the key in the stream and in the CPR fd table
 * @size: bytes, a multiple of 4096
 * @gpa: guest-physical address of the first byte
 * @split: 0, or an offset inside the block from which on the block is mapped
 *         at @split_gpa instead of @gpa + @split (a PC's RAM continues
 *         above 4 GiB, past the hole where firmware and devices live)
 * @split_gpa: guest-physical address of byte @split, when @split is set
 * @backing: where the pages live
 * @shared: mapped MAP_SHARED (share=on)
 * @implicit: not created from a memory-backend object (ROMs, firmware,
 *            "-m" RAM without memory-backend=): such blocks are shared
 *            memfds only with "-machine aux-ram-share=on"
 * @page_size: host page size backing it (4096, or the hugepage size)
 * @fd: the memfd or file descriptor, -1 for anonymous memory. Borrowed:
 *      the registry never closes it.
 * @host: where the block is mapped in this process
 * @path: mem-path of a file backend ("" otherwise)
 */
struct rl_ram_block {
	char name[RL_RAM_NAME_MAX];
	uint64_t size;
	uint64_t gpa;
	uint64_t split;
	uint64_t split_gpa;
	enum rl_ram_backing backing;
	bool shared;
	bool implicit;
	uint64_t page_size;
	int fd;
	void *host;
	char path[256];
	/*
	 * The VMM populated the block (prealloc): a load writes zeros over its
	 * absent pages instead of dropping them, so it stays populated.
	 */
	bool populated;
};

/*
 * struct rl_ram_registry - the blocks of one VM, in the order they were added.
 * Zero-initialise (or rl_ram_registry_init()) before use.
 */
struct rl_ram_registry {
	struct rl_ram_block *blocks;
	unsigned count;
	unsigned cap;
};

/* rl_ram_registry_init - make @reg empty. */
RL_EXPORT void rl_ram_registry_init(struct rl_ram_registry *reg);

/*
 * rl_ram_registry_free - forget every block and free the registry's memory.
 * Closes no fd and unmaps nothing: the VMM owns both.
 */
RL_EXPORT void rl_ram_registry_free(struct rl_ram_registry *reg);

/*
 * rl_ram_add - copy @block into @reg.
 * Return: 0; -EINVAL for an empty or too long name, a size of 0 or not a
 * multiple of 4096, or a page size that is not a power of two >= 4096;
 * -EEXIST if a block of that name exists; -ERANGE if its guest-physical range
 * overlaps another block's; -ENOMEM.
 */
RL_EXPORT int rl_ram_add(struct rl_ram_registry *reg, const struct rl_ram_block *block);

/* Return: the block named @name in @reg, or NULL. */
RL_EXPORT struct rl_ram_block *rl_ram_find(const struct rl_ram_registry *reg,
					   const char *name);

/*
 * rl_ram_backend_type - the QEMU object type a user would write for @block,
 * for messages: "memory-backend-memfd", "memory-backend-file",
 * "memory-backend-ram", or "RAM block" for implicit blocks.
 * Return: a constant string.
 */
RL_EXPORT const char *rl_ram_backend_type(const struct rl_ram_block *block);

#endif
