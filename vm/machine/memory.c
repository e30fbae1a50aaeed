// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Guest RAM blocks: memfd, file and anonymous backends with QEMU's options
 * (share, hugetlb, prealloc, host-nodes/policy=bind), the implicit blocks,
 * and taking memfds over after an exec: mapped lazily, populated later from
 * a paced background thread so the update's pause does not grow with RAM.
 */
#include <errno.h>
#include <fcntl.h>
#include <numaif.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <linux/magic.h>
#include <time.h>
#include <unistd.h>

#include "failpoint.h"
#include "machine/memory.h"
#include "vm-error.h"

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
#ifndef MFD_HUGETLB
#define MFD_HUGETLB 0x0004U
#endif

#define HUGE_2M (2ull << 20)
/*
 * Background populate after an update: steps of POPULATE_CHUNK, each
 * followed by a rest of POPULATE_REST_US. One step holds the process's
 * mmap lock for reading (about 90 µs for 4 MiB read-populated on the
 * reference machine); a writer (a thread stack's mmap) waits behind it,
 * and every fault that needs the lock waits behind the writer. Until the
 * populate has passed the guest's working set, the guest faults on every
 * page it touches: with 2 ms rests (4 GiB in 2.5 s) a guest touching all
 * of its 4 GiB ran at 73-83 % of its rate for 2.3 s. With no rests, a KVM
 * guest that touched no memory ran at half its rate for the 200 ms after
 * the resume in a third of the updates, against one in ten with no
 * populate at all. 200 µs rests fill 4 GiB in about 0.3 s, and the KVM
 * guest fares as with no populate.
 */
#define POPULATE_CHUNK (4ull << 20)
#define POPULATE_REST_US 200

static volatile int populate_stop;

static gboolean map_block(struct rl_ram_block *b, bool map_shared,
			  GError **errp)
{
	int flags = map_shared ? MAP_SHARED : MAP_PRIVATE;
	void *p;

	if (b->fd < 0)
		flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
	p = RL_FAILPOINT("vm.memory.mmap") ? MAP_FAILED : mmap(NULL, b->size, PROT_READ | PROT_WRITE, flags, b->fd, 0);
	if (p == MAP_FAILED) {
		vm_error(errp, "%s %s: cannot map %" G_GUINT64_FORMAT " bytes: %s",
			 rl_ram_backend_type(b), b->name, b->size, g_strerror(errno));
		return FALSE;
	}
	b->host = p;
	return TRUE;
}

static gboolean bind_node(struct rl_ram_block *b, int node, GError **errp)
{
	unsigned long mask[1024 / (8 * sizeof(unsigned long))] = { 0 };

	mask[node / (8 * sizeof(unsigned long))] |= 1ul << (node % (8 * sizeof(unsigned long)));
	/*
	 * The system call itself: libnuma's mbind() would link its library,
	 * whose constructor runs in every new process inside a cpr-exec pause.
	 */
	if (syscall(SYS_mbind, b->host, b->size, MPOL_BIND, mask, 1024, 0) < 0) {
		vm_error(errp, "memory-backend %s: host-nodes=%d,policy=bind: mbind: %s",
			 b->name, node, g_strerror(errno));
		return FALSE;
	}
	return TRUE;
}

static int populate(struct rl_ram_block *b, uint64_t off, uint64_t len, int advice)
{
	if (madvise((char *)b->host + off, len, advice) < 0)
		return -errno;
	return 0;
}

/*
 * How to fill the page tables of a block whose pages already exist. A read
 * fault on a shared tmpfs mapping (a memfd) maps the 16 pages around it
 * (the kernel's fault-around), writable: no dirty accounting on tmpfs. So
 * reading populates 4 GiB with 65536 faults instead of 1048576, 2.4x
 * faster on the reference machine, and the guest's writes do not fault
 * afterwards. Anything else (hugetlbfs, a file with write notification, a
 * private mapping, which would map its pages read-only) is written.
 */
static int populate_advice(const struct rl_ram_block *b)
{
	struct statfs sfs;

	if (b->fd >= 0 && b->shared && !fstatfs(b->fd, &sfs) &&
	    sfs.f_type == TMPFS_MAGIC)
		return MADV_POPULATE_READ;
	return MADV_POPULATE_WRITE;
}

/* Takes a memfd over from before the exec: check it, map it, no populate. */
static gboolean adopt_fd(struct rl_ram_block *b, int fd, GError **errp)
{
	struct stat st;

	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    (uint64_t)st.st_size != b->size) {
		vm_error(errp, "RAM block %s: preserved fd %d is not a memfd of %" G_GUINT64_FORMAT " bytes (%s)",
			 b->name, fd, b->size, g_strerror(errno));
		return FALSE;
	}
	(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
	b->fd = fd;
	return map_block(b, true, errp);
}

static gboolean create_block(struct vm_memory *mem, struct rl_ram_block *b,
			     const struct mem_object *m, memory_fd_lookup lookup,
			     void *opaque, GError **errp)
{
	int fd = lookup ? lookup(b->name, opaque) : -1;

	b->fd = -1;
	b->page_size = 4096;
	if (m && m->hugetlb)
		b->page_size = HUGE_2M;

	if (fd == MEMORY_FD_UNUSABLE) {
		/* a fresh block would run the guest without its RAM */
		vm_error(errp, "RAM block %s: the preserved memory does not fit this configuration",
			 b->name);
		return FALSE;
	}
	if (fd >= 0) {
		b->backing = RL_RAM_MEMFD;
		b->shared = true;
		return adopt_fd(b, fd, errp);
	}

	switch (m ? m->kind : (mem->aux_ram_share ? MEM_MEMFD : MEM_RAM)) {
	case MEM_MEMFD: {
		unsigned flags = MFD_CLOEXEC;

		if (m && m->hugetlb) {
			flags |= MFD_HUGETLB;
			if (b->size % HUGE_2M) {
				vm_error(errp, "memory-backend-memfd %s: size must be a multiple of 2 MiB with hugetlb=on",
					 b->name);
				return FALSE;
			}
		}
		b->backing = RL_RAM_MEMFD;
		b->shared = m ? m->share : true;
		fd = memfd_create(b->name, flags);
		if (fd < 0) {
			vm_error(errp, "memory-backend-memfd %s: memfd_create: %s%s",
				 b->name, g_strerror(errno),
				 m && m->hugetlb ? " (are hugepages configured? see /proc/sys/vm/nr_hugepages)" : "");
			return FALSE;
		}
		if (ftruncate(fd, b->size) < 0) {
			vm_error(errp, "memory-backend-memfd %s: cannot size it to %" G_GUINT64_FORMAT " bytes: %s",
				 b->name, b->size, g_strerror(errno));
			close(fd);
			return FALSE;
		}
		b->fd = fd;
		break;
	}
	case MEM_FILE: {
		struct stat st;

		b->backing = RL_RAM_FILE;
		b->shared = m->share;
		g_strlcpy(b->path, m->mem_path, sizeof(b->path));
		fd = open(m->mem_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (fd < 0) {
			vm_error(errp, "memory-backend-file %s: mem-path=%s: %s",
				 b->name, m->mem_path, g_strerror(errno));
			return FALSE;
		}
		if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
		    (uint64_t)st.st_size < b->size && ftruncate(fd, b->size) < 0) {
			vm_error(errp, "memory-backend-file %s: cannot size %s to %" G_GUINT64_FORMAT " bytes: %s",
				 b->name, m->mem_path, b->size, g_strerror(errno));
			close(fd);
			return FALSE;
		}
		b->fd = fd;
		break;
	}
	case MEM_RAM:
		b->backing = RL_RAM_ANON;
		b->shared = false;
		break;
	}
	if (!map_block(b, b->shared, errp))
		goto err;
	if (m && m->host_node >= 0 && !bind_node(b, m->host_node, errp))
		goto err;
	return TRUE;
err:
	if (b->host)
		munmap(b->host, b->size);
	if (b->fd >= 0)
		close(b->fd);
	b->host = NULL;
	b->fd = -1;
	return FALSE;
}

static gboolean add_block(struct vm_memory *mem, const char *name,
			  uint64_t size, uint64_t gpa, bool implicit,
			  const struct mem_object *m, memory_fd_lookup lookup,
			  void *opaque, GError **errp)
{
	struct rl_ram_block b = { 0 };
	int ret;

	g_strlcpy(b.name, name, sizeof(b.name));
	b.size = size;
	b.gpa = gpa;
	if (gpa == 0 && size > RAM_BELOW_4G) {
		b.split = RAM_BELOW_4G;
		b.split_gpa = RAM_ABOVE_4G_GPA;
	}
	b.implicit = implicit;
	if (!create_block(mem, &b, m, lookup, opaque, errp))
		return FALSE;
	ret = rl_ram_add(&mem->reg, &b);
	if (ret < 0) {
		vm_error(errp, "RAM block %s: %s", name, g_strerror(-ret));
		munmap(b.host, b.size);
		if (b.fd >= 0)
			close(b.fd);
		return FALSE;
	}
	mem->prealloc[mem->reg.count - 1] = m && m->prealloc;
	return TRUE;
}

gboolean memory_create(struct vm_memory *mem, const struct vm_options *o,
		       memory_fd_lookup lookup, void *opaque, GError **errp)
{
	const struct mem_object *m = NULL;

	memset(mem, 0, sizeof(*mem));
	rl_ram_registry_init(&mem->reg);
	mem->aux_ram_share = o->aux_ram_share;
	mem->has_implicit = true; /* the ROM */
	mem->incoming = lookup != NULL;

	if (o->memory_backend)
		m = options_find_object(o, o->memory_backend);
	if (!add_block(mem, m ? m->id : "pc.ram", o->ram_size, 0, !m, m,
		       lookup, opaque, errp))
		goto err;
	if (!add_block(mem, ROM_NAME, ROM_SIZE, ROM_GPA, true, NULL, lookup,
		       opaque, errp))
		goto err;

	if (mem->incoming)
		return TRUE; /* populated after resume, not in the pause */
	for (unsigned i = 0; i < mem->reg.count; i++) {
		struct rl_ram_block *b = &mem->reg.blocks[i];
		int ret;

		if (!mem->prealloc[i])
			continue;
		ret = populate(b, 0, b->size, MADV_POPULATE_WRITE);
		if (ret < 0) {
			vm_error(errp, "memory-backend %s: prealloc=on: %s",
				 b->name, g_strerror(-ret));
			goto err;
		}
		b->populated = true;
	}
	mem->populate_done = true;
	return TRUE;
err:
	memory_destroy(mem);
	return FALSE;
}

void memory_rom_load(struct vm_memory *mem, const void *data, size_t len,
		     size_t offset)
{
	struct rl_ram_block *b = rl_ram_find(&mem->reg, ROM_NAME);

	memcpy((char *)b->host + offset, data, len);
}

void *memory_gpa_to_host(struct vm_memory *mem, uint64_t gpa, uint64_t len)
{
	for (unsigned i = 0; i < mem->reg.count; i++) {
		struct rl_ram_block *b = &mem->reg.blocks[i];

		uint64_t low = b->split ? b->split : b->size;

		if (gpa >= b->gpa && gpa + len <= b->gpa + low)
			return (char *)b->host + (gpa - b->gpa);
		if (b->split && gpa >= b->split_gpa &&
		    gpa + len <= b->split_gpa + (b->size - b->split))
			return (char *)b->host + b->split + (gpa - b->split_gpa);
	}
	return NULL;
}

/*
 * After an exec the new process's page tables are empty: a guest that uses
 * all its memory would take a fault on every page, slowed for as long as
 * that takes. This thread fills them ahead of the guest, at nice 19 (not
 * SCHED_IDLE: starved while holding the mmap lock it would stall every
 * fault and mmap of the process behind it).
 */
static gpointer populate_thread(gpointer opaque)
{
	struct vm_memory *mem = opaque;
	struct timespec rest = { 0, POPULATE_REST_US * 1000 };

	setpriority(PRIO_PROCESS, (id_t)gettid(), 19);
	for (unsigned i = 0; i < mem->reg.count; i++) {
		struct rl_ram_block *b = &mem->reg.blocks[i];
		int advice;

		if (!mem->prealloc[i])
			continue;
		advice = populate_advice(b);
		for (uint64_t off = 0; off < b->size && !populate_stop;
		     off += POPULATE_CHUNK) {
			uint64_t len = MIN(POPULATE_CHUNK, b->size - off);

			/* EINVAL: a kernel before 5.14; the guest faults its pages in */
			if (populate(b, off, len, advice) < 0)
				break;
			nanosleep(&rest, NULL);
		}
	}
	/* read after the join: done unless stopped (a failed step counts as done) */
	mem->populate_done = !populate_stop;
	return NULL;
}

void memory_populate_background(struct vm_memory *mem)
{
	bool any = false;

	for (unsigned i = 0; i < mem->reg.count; i++)
		any |= mem->prealloc[i];
	if (!any || mem->populate || mem->populate_done)
		return;
	populate_stop = 0;
	mem->populate = g_thread_new("populate", populate_thread, mem);
}

void memory_populate_stop(struct vm_memory *mem)
{
	if (mem->populate) {
		populate_stop = 1;
		g_thread_join(mem->populate);
		mem->populate = NULL;
	}
}

void memory_destroy(struct vm_memory *mem)
{
	memory_populate_stop(mem);
	for (unsigned i = 0; i < mem->reg.count; i++) {
		struct rl_ram_block *b = &mem->reg.blocks[i];

		if (b->host)
			munmap(b->host, b->size);
		if (b->fd >= 0)
			close(b->fd);
	}
	rl_ram_registry_free(&mem->reg);
}
