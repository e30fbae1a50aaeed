/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Guest RAM: the memory backends of the command line and the implicit
 * blocks (the "pc.bios" ROM holding the guest program, "-m" RAM without a
 * backend), mapped in this process and listed in a librelive RAM registry.
 * Guest-physical layout: RAM from 0 up to 3.75 GiB, the rest of it from
 * 4 GiB on (as a PC's); the 64 KiB ROM just below 4 GiB.
 */
#ifndef VM_MEMORY_H
#define VM_MEMORY_H

#include <stdbool.h>
#include <stdint.h>
#include <glib.h>

#include "options.h"
#include "relive/ram.h"

#define ROM_NAME "pc.bios"
#define ROM_SIZE (64u << 10)
#define ROM_GPA (0x100000000ull - ROM_SIZE)
/* RAM below 4 GiB ends here, under the ROM and the KVM TSS pages. */
#define RAM_BELOW_4G (0xf0000000ull)
#define RAM_ABOVE_4G_GPA (0x100000000ull)

struct vm_memory {
	struct rl_ram_registry reg;
	bool aux_ram_share;
	bool has_implicit;
	bool incoming;		/* blocks came across an exec */
	bool prealloc[8];	/* per registry index */
	GThread *populate;
	bool populate_done;	/* every prealloc block is in the page tables */
};

/*
 * Looks up a preserved fd by block name (the CPR fd table); -1 if absent,
 * MEMORY_FD_UNUSABLE if present but not usable (the lookup said why).
 * NULL on a first start.
 */
#define MEMORY_FD_UNUSABLE (-2)
typedef int (*memory_fd_lookup)(const char *name, void *opaque);

/*
 * memory_create - create (or, with @lookup, take over across an exec) every
 * block and map it. On a first start, prealloc=on populates now; on an
 * incoming update nothing is populated (memory_populate_background() does
 * it after resume). Return: TRUE or FALSE with @errp naming the object.
 */
gboolean memory_create(struct vm_memory *mem, const struct vm_options *o,
		       memory_fd_lookup lookup, void *opaque, GError **errp);

/* Copies @len bytes into the ROM at @offset (first start only). */
void memory_rom_load(struct vm_memory *mem, const void *data, size_t len,
		     size_t offset);

/* Return: the host address of guest-physical @gpa (@len bytes), or NULL. */
void *memory_gpa_to_host(struct vm_memory *mem, uint64_t gpa, uint64_t len);

/*
 * Populates the page tables of the prealloc=on blocks from a background
 * thread at low priority, in 4 MiB steps with rests between them, so that
 * a guest using all its memory does not take a fault on every page after
 * an update.
 */
void memory_populate_background(struct vm_memory *mem);
/*
 * Stops that thread after its current step (an update stops it before the
 * pause; a failed update starts it again with the guest).
 */
void memory_populate_stop(struct vm_memory *mem);

void memory_destroy(struct vm_memory *mem);

#endif
