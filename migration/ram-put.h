/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Putting checked bytes into guest RAM, and making absent pages zero,
 * without touching the guest's pages from this process (see ram-put.c).
 */
#ifndef RELIVE_RAM_PUT_H
#define RELIVE_RAM_PUT_H

#include <stddef.h>
#include <stdint.h>

#include "relive/ram.h"

/*
 * rl_ram_put - copy @len bytes at @src to @dst, in this process's guest
 * mapping, through the kernel (process_vm_writev on itself), or with
 * memcpy where that call is refused (seccomp, ENOSYS).
 * Return: 0 or -errno (-EFAULT: @dst is not writable memory).
 */
int rl_ram_put(void *dst, const void *src, size_t len);

/*
 * rl_ram_zero - make [@off, @off + @len) of @b zero, without faulting in
 * what is already zero: a private anonymous block drops the range
 * (MADV_DONTNEED: it reads as zero again) unless @b->populated, a block
 * with an fd skips the fd's holes; what is left is checked a page at a time and cleared where
 * it is not zero. @off and @len are multiples of 4096.
 */
void rl_ram_zero(const struct rl_ram_block *b, uint64_t off, uint64_t len);

#endif
