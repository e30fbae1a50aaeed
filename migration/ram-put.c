// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Restoring guest RAM without this process touching it. The first access
 * to a fresh page from user space costs a page fault and a TLB fill per
 * 4 KiB page, more than reading the bytes from the disk and checking them
 * (relive-bench restore, docs/migration.md). The kernel copies through its
 * own mapping of the memory instead: process_vm_writev() on ourselves
 * faults the pages in once, in the kernel, and leaves the guest's mapping
 * to the guest. Pages that are to be zero in fresh memory already are.
 * A private block's absent pages are dropped, unless the VMM marked the
 * block populated (prealloc): then they are zeroed in place and stay.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include "ram-data.h"
#include "ram-put.h"
#include "stream-format.h"

#define PAGE 4096u

/* process_vm_writev was refused once (seccomp, no CONFIG_CROSS_MEMORY_ATTACH): memcpy from then on. */
static bool vm_write_refused;

int rl_ram_put(void *dst, const void *src, size_t len)
{
	while (len && !__atomic_load_n(&vm_write_refused, __ATOMIC_RELAXED)) {
		struct iovec local = { (void *)src, len }, remote = { dst, len };
		ssize_t n = process_vm_writev(getpid(), &local, 1, &remote, 1, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == ENOSYS || errno == EPERM)) {
			__atomic_store_n(&vm_write_refused, true, __ATOMIC_RELAXED);
			break;
		}
		if (n <= 0)
			return n < 0 ? -errno : -EFAULT;
		dst = (char *)dst + n;
		src = (const char *)src + n;
		len -= (size_t)n;
	}
	if (len)
		memcpy(dst, src, len);
	return 0;
}

/* Zeroes what is not zero in [@off, @end), a page at a time, never past @end. */
static void zero_checked(unsigned char *host, uint64_t off, uint64_t end)
{
	while (off < end) {
		size_t n = PAGE - (off & (PAGE - 1));

		if (n > end - off)
			n = end - off;
		if (!rl_is_zero(host + off, n))
			memset(host + off, 0, n);
		off += n;
	}
}

void rl_ram_zero(const struct rl_ram_block *b, uint64_t off, uint64_t len)
{
	unsigned char *host = b->host;
	uint64_t end = off + len;

	if (!len)
		return;
	if (b->backing == RL_RAM_ANON && !b->shared && b->page_size == PAGE && !b->populated &&
	    !madvise(host + off, len, MADV_DONTNEED))
		return;
	if (b->fd >= 0 && b->shared) {
		/* Only the fd's data can be non-zero: skip its holes (ram-data.c). */
		struct rl_ram_data data;
		uint64_t start, stop;

		rl_ram_data_init(&data, b);
		while (off < end && rl_ram_data_next(&data, off, &start, &stop) == 0 &&
		       start < end) {
			zero_checked(host, start, stop < end ? stop : end);
			off = stop;
		}
		rl_ram_data_fini(&data);
		return;
	}
	zero_checked(host, off, end);
}
