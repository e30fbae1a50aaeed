/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A synthetic VM for the stream tests: RAM blocks (a shared memfd and a
 * private anonymous block with zero pages), vCPU and device state with
 * recognisable patterns, and a temporary directory for state files.
 */
#ifndef RELIVE_TESTS_SYNTH_VM_H
#define RELIVE_TESTS_SYNTH_VM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "relive/stream.h"

#define SYNTH_MAX_DEV 64

struct synth_vm {
	struct rl_ram_registry ram;
	unsigned nr_vcpus;
	unsigned char cpu[2][512];
	const char *devices[SYNTH_MAX_DEV];
	char dev_names[SYNTH_MAX_DEV][32];
	unsigned char *dev_state[SYNTH_MAX_DEV];
	size_t dev_len[SYNTH_MAX_DEV];
	bool dev_iov[SYNTH_MAX_DEV];	/* saved through the iovec path */
	unsigned nr_devices;
	int memfd;			/* of the shared block, -1 if none */
};

/*
 * synth_vm_init - a VM with 2 vCPUs; a shared memfd block "ram0" of
 * @shared_size (0: none), a private anonymous block "ram1" of @private_size
 * (0: none) where only every 4th page is non-zero; devices added with
 * synth_vm_add_device().
 */
void synth_vm_init(struct synth_vm *vm, uint64_t shared_size,
		   uint64_t private_size);

/* synth_vm_add_device - a device @name with @len bytes of patterned state. */
void synth_vm_add_device(struct synth_vm *vm, const char *name, size_t len,
			 bool iov, unsigned seed);

/*
 * synth_vm_empty_like - the "new process" side: same layout, the shared
 * block mapping the same memfd, a fresh private block and device buffers
 * filled with the sentinel byte @sentinel.
 */
void synth_vm_empty_like(struct synth_vm *dst, const struct synth_vm *src,
			 unsigned char sentinel);

void synth_vm_free(struct synth_vm *vm);

struct rl_stream_config synth_vm_config(const struct synth_vm *vm);

/* synth_vm_save - the whole save sequence. Return: 0 or -errno. */
int synth_vm_save(const struct synth_vm *vm, const char *path,
		  const struct rl_stream_save_opts *opts, struct rl_error *err);
/* The part of synth_vm_save() after rl_stream_save_begin(): what a VMM does
 * with the guest stopped. Commits @s, or aborts it on failure. */
int synth_vm_save_into(const struct synth_vm *vm, struct rl_stream_saver *s);

/*
 * synth_vm_apply - check, verify and apply an open stream into @vm, as a
 * VMM would. Return: 0 or -errno.
 */
int synth_vm_apply(struct synth_vm *vm, struct rl_stream_loader *l,
		   struct rl_error *err);

/* synth_vm_load - open, then synth_vm_apply(). Return: 0 or -errno. */
int synth_vm_load_file(struct synth_vm *vm, const char *path,
		       struct rl_error *err);
int synth_vm_load_mem(struct synth_vm *vm, const void *data, size_t size,
		      struct rl_error *err);

/* synth_tmpdir - mkdtemp under /tmp into @buf (64 bytes); synth_rmdir - remove it and its files. */
void synth_tmpdir(char *buf);
void synth_rmdir(const char *dir);

#endif
