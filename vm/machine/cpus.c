// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vCPU threads and the two accelerators. KVM: the VM fd, memory slots, one
 * vCPU fd per thread running KVM_RUN, port I/O handed to the devices, and
 * the complete vCPU state (CPUID table, regs, sregs, FPU/XSAVE, XCRs, the
 * MSRs KVM lists, vCPU events, debug registers) as bytes. thread: a host
 * thread per vCPU that executes no guest code and writes the heartbeat into
 * guest RAM.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "machine/cpus.h"
#include "vm-error.h"

#define SIG_KICK SIGUSR1
#define KVM_TSS_GPA 0xfffbd000ull
#define KVM_IDMAP_GPA 0xfffbc000ull
#define THREAD_BEAT_NS 20000
/*
 * touch-ram: pages written per heartbeat. With the pages in the page
 * tables that costs a TLB miss each (a few microseconds for all 64 on a
 * bare-metal host, about 600 µs under the reference machine's virtualized
 * MMU); with the page tables empty, a fault each.
 */
#define TOUCH_PAGES_PER_BEAT 64
#define TOUCH_PAGE 4096u

#define CPU_STATE_MAGIC 0x50434c52u /* "RLCP" */
/* 2: the CPUID table the guest saw. 1 (without it) still loads. */
#define CPU_STATE_VERSION 2
#define ACCEL_ID_KVM 1
#define ACCEL_ID_THREAD 2
#define CPU_MAX_CPUID 4096

/*
 * The layout of one vCPU's saved state (docs/format.md); all fields in host
 * (x86) order. Version 1 ends the header after flags.
 */
struct cpu_state_hdr {
	uint32_t magic;
	uint32_t version;
	uint32_t accel;
	uint32_t nr_msrs;
	uint32_t xsave_size;
	uint32_t flags;
	uint32_t nr_cpuid;	/* struct kvm_cpuid_entry2 after the XSAVE area */
	uint32_t reserved;
};

#define CPU_STATE_HDR_V1 offsetof(struct cpu_state_hdr, nr_cpuid)

#define CPU_HAS_XCRS 0x1u
#define CPU_HAS_DEBUGREGS 0x2u

struct cpu_state_fixed {
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_fpu fpu;
	struct kvm_xcrs xcrs;
	struct kvm_vcpu_events events;
	struct kvm_debugregs debugregs;
};

struct cpu_thread_arg {
	struct cpus *c;
	struct vcpu *v;
};

static void kick_handler(int sig)
{
	(void)sig;
}

int cpus_open_kvm(struct cpus *c, GError **errp)
{
	int ret;

	c->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (c->kvm_fd < 0) {
		ret = -errno;
		vm_error(errp, "/dev/kvm: %s", g_strerror(errno));
		return ret;
	}
	if (ioctl(c->kvm_fd, KVM_GET_API_VERSION, 0) != KVM_API_VERSION) {
		vm_error(errp, "/dev/kvm: unexpected KVM API version");
		goto err;
	}
	c->vm_fd = ioctl(c->kvm_fd, KVM_CREATE_VM, 0);
	if (c->vm_fd < 0) {
		vm_error(errp, "/dev/kvm: KVM_CREATE_VM: %s (is another hypervisor using VT-x/SVM?)",
			 g_strerror(errno));
		goto err;
	}
	(void)fcntl(c->vm_fd, F_SETFD, FD_CLOEXEC);
	if (ioctl(c->vm_fd, KVM_SET_TSS_ADDR, KVM_TSS_GPA) < 0 ||
	    ioctl(c->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &(uint64_t){ KVM_IDMAP_GPA }) < 0) {
		vm_error(errp, "KVM: cannot place the real-mode TSS: %s", g_strerror(errno));
		goto err;
	}
	c->run_size = ioctl(c->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	ret = ioctl(c->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE2);
	if (ret > 0)
		c->xsave_size = ret;
	else if (ioctl(c->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE) > 0)
		c->xsave_size = sizeof(struct kvm_xsave);
	c->kvm = true;
	return 0;
err:
	if (c->vm_fd >= 0)
		close(c->vm_fd);
	close(c->kvm_fd);
	c->vm_fd = c->kvm_fd = -1;
	return -EIO;
}

static gboolean map_slot(struct cpus *c, unsigned slot, const char *name,
			 uint64_t gpa, uint64_t size, void *host, GError **errp)
{
	struct kvm_userspace_memory_region r = {
		.slot = slot,
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = (uintptr_t)host,
	};

	if (ioctl(c->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0) {
		vm_error(errp, "KVM: cannot map RAM block %s at 0x%" G_GINT64_MODIFIER "x: %s",
			 name, gpa, g_strerror(errno));
		return FALSE;
	}
	return TRUE;
}

/* At most this many slots per range: KVM may allow no more than 509 in all. */
#define SLOTS_PER_RANGE 64

static gboolean map_range(struct cpus *c, unsigned *slot, const char *name, uint64_t gpa,
			  uint64_t size, void *host, uint64_t max_slot, GError **errp)
{
	uint64_t piece = size;

	if (max_slot) {
		uint64_t fewest = (size + SLOTS_PER_RANGE - 1) / SLOTS_PER_RANGE;

		/* whole multiples of max_slot, so huge pages stay whole */
		piece = MAX(max_slot, (fewest + max_slot - 1) / max_slot * max_slot);
	}
	for (uint64_t off = 0; off < size; off += piece)
		if (!map_slot(c, (*slot)++, name, gpa + off, MIN(piece, size - off),
			      (char *)host + off, errp))
			return FALSE;
	return TRUE;
}

gboolean cpus_map_memory(struct cpus *c, struct vm_memory *mem, uint64_t max_slot,
			 GError **errp)
{
	unsigned slot = 0;

	if (!c->kvm)
		return TRUE;
	for (unsigned i = 0; i < mem->reg.count; i++) {
		struct rl_ram_block *b = &mem->reg.blocks[i];
		uint64_t low = b->split ? b->split : b->size;

		if (!map_range(c, &slot, b->name, b->gpa, low, b->host, max_slot, errp))
			return FALSE;
		if (b->split &&
		    !map_range(c, &slot, b->name, b->split_gpa, b->size - b->split,
			       (char *)b->host + b->split, max_slot, errp))
			return FALSE;
	}
	return TRUE;
}

static void cpu_fail(struct cpus *c, struct vcpu *v, const char *fmt, ...)
	G_GNUC_PRINTF(3, 4);

static void cpu_fail(struct cpus *c, struct vcpu *v, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	va_start(ap, fmt);
	msg = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	fprintf(stderr, "relive-vm: vCPU %u: %s\n", v->index, msg);
	pthread_mutex_lock(&c->lock);
	c->failed = true;
	if (!c->fail_msg)
		c->fail_msg = msg;
	else
		g_free(msg);
	if (c->handoff)
		pthread_cond_broadcast(&c->all_cond);
	pthread_mutex_unlock(&c->lock);
	if (c->on_fail)
		g_idle_add(c->on_fail, NULL);
}

/*
 * Waits while the vCPUs are stopped, on this vCPU's own condition: only
 * cpus_resume() wakes it. The caller waiting in cpus_pause() or
 * cpus_resume_handoff() is woken once, by the last vCPU to park or to leave.
 * Return: false when this vCPU must stop for good.
 */
static bool cpu_wait_run(struct cpus *c, struct vcpu *v, bool dead)
{
	pthread_mutex_lock(&c->lock);
	v->dead = dead;
	if (!c->run_allowed || dead) {
		v->parked = true;
		if (++c->parked == c->nr)
			pthread_cond_broadcast(&c->all_cond);
		do
			pthread_cond_wait(&v->wake, &c->lock);
		while (!c->run_allowed || dead);
		v->parked = false;
		c->parked--;
	}
	if (v->run)
		v->run->immediate_exit = 0;
	if (v->resumes != c->resumes) {
		v->resumes = c->resumes;
		if (++c->released == c->nr && c->handoff)
			pthread_cond_broadcast(&c->all_cond);
	}
	pthread_mutex_unlock(&c->lock);
	return true;
}

static bool kvm_handle_exit(struct cpus *c, struct vcpu *v)
{
	struct kvm_run *run = v->run;

	switch (run->exit_reason) {
	case KVM_EXIT_IO: {
		uint8_t *data = (uint8_t *)run + run->io.data_offset;

		for (unsigned i = 0; i < run->io.count; i++) {
			if (c->pio)
				c->pio(run->io.port, run->io.direction == KVM_EXIT_IO_OUT,
				       data, run->io.size);
			data += run->io.size;
		}
		return true;
	}
	case KVM_EXIT_MMIO:
		if (!run->mmio.is_write)
			memset(run->mmio.data, 0xff, sizeof(run->mmio.data));
		return true;
	case KVM_EXIT_HLT: {
		struct timespec ts = { 0, 1000000 };

		nanosleep(&ts, NULL);
		return true;
	}
	case KVM_EXIT_INTR:
		return true;
	case KVM_EXIT_SHUTDOWN:
		cpu_fail(c, v, "the guest triple-faulted (KVM_EXIT_SHUTDOWN)");
		return false;
	case KVM_EXIT_FAIL_ENTRY:
		cpu_fail(c, v, "KVM could not enter the guest (hardware reason 0x%llx)",
			 (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		return false;
	case KVM_EXIT_INTERNAL_ERROR:
		cpu_fail(c, v, "KVM internal error (suberror %u)", run->internal.suberror);
		return false;
	default:
		cpu_fail(c, v, "unexpected KVM exit reason %u", run->exit_reason);
		return false;
	}
}

static void *kvm_cpu_thread(void *opaque)
{
	struct cpu_thread_arg *a = opaque;
	struct cpus *c = a->c;
	struct vcpu *v = a->v;
	bool dead = false;
	sigset_t set;

	g_free(a);
	sigemptyset(&set);
	sigaddset(&set, SIG_KICK);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	for (;;) {
		cpu_wait_run(c, v, dead);
		if (ioctl(v->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			cpu_fail(c, v, "KVM_RUN: %s", g_strerror(errno));
			dead = true;
			continue;
		}
		if (!kvm_handle_exit(c, v))
			dead = true;
	}
	return NULL;
}

/* One byte in each of the next TOUCH_PAGES_PER_BEAT pages of this vCPU's share. */
static void touch_ram(struct vcpu *v, uint8_t val)
{
	uint64_t next = v->touch_next;

	for (unsigned k = 0; k < TOUCH_PAGES_PER_BEAT; k++) {
		/* the last byte: the heartbeats live at the start of their page */
		v->touch[next * TOUCH_PAGE + TOUCH_PAGE - 1] = val;
		if (++next == v->touch_pages)
			next = 0;
	}
	v->touch_next = next;
}

static void *thread_cpu_thread(void *opaque)
{
	struct cpu_thread_arg *a = opaque;
	struct cpus *c = a->c;
	struct vcpu *v = a->v;
	struct timespec ts = { 0, THREAD_BEAT_NS };

	g_free(a);
	for (;;) {
		cpu_wait_run(c, v, false);
		while (__atomic_load_n(&c->run_allowed, __ATOMIC_ACQUIRE)) {
			uint64_t n = __atomic_load_n(v->heartbeat, __ATOMIC_RELAXED);

			__atomic_store_n(v->heartbeat, n + 1, __ATOMIC_RELEASE);
			if (v->touch)
				touch_ram(v, (uint8_t)n);
			nanosleep(&ts, NULL);
		}
	}
	return NULL;
}

/* Keeps the MSRs KVM lets us read and write back; others would fail a load. */
static gboolean probe_msrs(struct cpus *c, struct vcpu *v, GError **errp)
{
	struct kvm_msr_list probe = { .nmsrs = 0 };
	struct kvm_msr_list *list;
	struct {
		struct kvm_msrs h;
		struct kvm_msr_entry e;
	} one;

	if (ioctl(c->kvm_fd, KVM_GET_MSR_INDEX_LIST, &probe) < 0 && errno != E2BIG) {
		vm_error(errp, "KVM_GET_MSR_INDEX_LIST: %s", g_strerror(errno));
		return FALSE;
	}
	list = g_malloc0(sizeof(*list) + probe.nmsrs * sizeof(uint32_t));
	list->nmsrs = probe.nmsrs;
	if (ioctl(c->kvm_fd, KVM_GET_MSR_INDEX_LIST, list) < 0) {
		vm_error(errp, "KVM_GET_MSR_INDEX_LIST: %s", g_strerror(errno));
		g_free(list);
		return FALSE;
	}
	c->msr_index = g_new(uint32_t, list->nmsrs);
	c->nr_msrs = 0;
	for (unsigned i = 0; i < list->nmsrs; i++) {
		memset(&one, 0, sizeof(one));
		one.h.nmsrs = 1;
		one.e.index = list->indices[i];
		if (ioctl(v->fd, KVM_GET_MSRS, &one) != 1)
			continue;
		if (ioctl(v->fd, KVM_SET_MSRS, &one) != 1)
			continue;
		c->msr_index[c->nr_msrs++] = list->indices[i];
	}
	g_free(list);
	return TRUE;
}

/*
 * KVM may keep fewer CPUID entries than it is given: Linux 6.18 drops leaves
 * 0x1d, 0x1e and 0x24 of its own KVM_GET_SUPPORTED_CPUID table. What the
 * guest sees, and what cpus_save() reads back, is what KVM kept: vCPU 0's
 * count, read back once (in the pause, an ioctl per vCPU costs microseconds).
 * The others get the same table and keep as many; if one did not, its save
 * would fail ("the table changed size") and the guest run on.
 */
static gboolean kvm_set_cpuid(struct cpus *c, struct vcpu *v, GError **errp)
{
	struct kvm_cpuid2 *table = c->cpuid;
	g_autofree struct kvm_cpuid2 *kept = NULL;

	if (ioctl(v->fd, KVM_SET_CPUID2, table) < 0) {
		vm_error(errp, "KVM: vCPU %u: KVM_SET_CPUID2 (%u entries): %s", v->index,
			 table->nent, g_strerror(errno));
		return FALSE;
	}
	if (v->index != 0)
		return TRUE;
	kept = g_malloc0(sizeof(*kept) + table->nent * sizeof(kept->entries[0]));
	kept->nent = table->nent;
	if (ioctl(v->fd, KVM_GET_CPUID2, kept) < 0) {
		vm_error(errp, "KVM: vCPU %u: KVM_GET_CPUID2: %s", v->index, g_strerror(errno));
		return FALSE;
	}
	c->nr_cpuid = kept->nent;
	return TRUE;
}

static gboolean kvm_cpu_init(struct cpus *c, struct vcpu *v, struct vm_memory *mem,
			     uint32_t entry, GError **errp)
{
	struct kvm_regs regs = { 0 };

	v->fd = ioctl(c->vm_fd, KVM_CREATE_VCPU, v->index);
	if (v->fd < 0) {
		vm_error(errp, "KVM: cannot create vCPU %u: %s", v->index, g_strerror(errno));
		return FALSE;
	}
	(void)fcntl(v->fd, F_SETFD, FD_CLOEXEC);
	v->run = mmap(NULL, c->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
	if (v->run == MAP_FAILED) {
		v->run = NULL;
		vm_error(errp, "KVM: cannot map vCPU %u's run area: %s", v->index, g_strerror(errno));
		return FALSE;
	}
	if (c->cpuid && !kvm_set_cpuid(c, v, errp))
		return FALSE;
	/* The reset state already has CS based at 0xffff0000, where the ROM is. */
	regs.rip = entry;
	regs.rbx = v->index;
	regs.rflags = 0x2;
	if (ioctl(v->fd, KVM_SET_REGS, &regs) < 0) {
		vm_error(errp, "KVM: vCPU %u: KVM_SET_REGS: %s", v->index, g_strerror(errno));
		return FALSE;
	}
	return TRUE;
}

static gboolean kvm_get_cpuid(struct cpus *c, GError **errp)
{
	for (unsigned n = 256; n <= 4096; n *= 2) {
		struct kvm_cpuid2 *cpuid = g_malloc0(sizeof(*cpuid) + n * sizeof(cpuid->entries[0]));

		cpuid->nent = n;
		if (ioctl(c->kvm_fd, KVM_GET_SUPPORTED_CPUID, cpuid) == 0) {
			g_free(c->cpuid);
			c->cpuid = cpuid;
			c->nr_cpuid = cpuid->nent;
			return TRUE;
		}
		g_free(cpuid);
		if (errno != E2BIG) {
			vm_error(errp, "KVM_GET_SUPPORTED_CPUID: %s", g_strerror(errno));
			return FALSE;
		}
	}
	vm_error(errp, "KVM_GET_SUPPORTED_CPUID: too many entries");
	return FALSE;
}

gboolean cpus_create(struct cpus *c, unsigned nr, struct vm_memory *mem,
		     uint32_t entry, bool from_state, cpus_pio_fn pio, GError **errp)
{
	struct sigaction sa = { .sa_handler = kick_handler };
	pthread_condattr_t ca;
	sigset_t set, old;

	pthread_mutex_init(&c->lock, NULL);
	/* cpus_resume_handoff() waits with a deadline the wall clock cannot move */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->all_cond, &ca);
	pthread_condattr_destroy(&ca);
	c->nr = nr;
	c->pio = pio;
	c->vcpu = g_new0(struct vcpu, nr);
	for (unsigned i = 0; i < nr; i++)
		pthread_cond_init(&c->vcpu[i].wake, NULL);
	sigaction(SIG_KICK, &sa, NULL);

	if (c->kvm && !from_state && !kvm_get_cpuid(c, errp))
		return FALSE;
	for (unsigned i = 0; i < nr; i++) {
		struct vcpu *v = &c->vcpu[i];

		v->index = i;
		v->fd = -1;
		if (c->kvm) {
			if (!kvm_cpu_init(c, v, mem, entry, errp))
				return FALSE;
		} else {
			v->heartbeat = memory_gpa_to_host(mem, HEARTBEAT_GPA + HEARTBEAT_STRIDE * i, 8);
			if (!v->heartbeat) {
				vm_error(errp, "guest RAM too small for vCPU %u's heartbeat", i);
				return FALSE;
			}
			if (c->touch_ram) {
				/* the guest RAM block comes first (memory_create()) */
				struct rl_ram_block *b = &mem->reg.blocks[0];
				uint64_t pages = b->size / TOUCH_PAGE;
				uint64_t first = pages * i / nr, end = pages * (i + 1) / nr;

				v->touch = (uint8_t *)b->host + first * TOUCH_PAGE;
				v->touch_pages = end - first;
				if (!v->touch_pages)
					v->touch = NULL;
			}
		}
	}
	if (c->kvm && !from_state && !probe_msrs(c, &c->vcpu[0], errp))
		return FALSE;

	/* vCPU threads take the kick signal only while they run the guest. */
	sigemptyset(&set);
	sigaddset(&set, SIG_KICK);
	pthread_sigmask(SIG_BLOCK, &set, &old);
	for (unsigned i = 0; i < nr; i++) {
		struct cpu_thread_arg *a = g_new(struct cpu_thread_arg, 1);
		int ret;

		a->c = c;
		a->v = &c->vcpu[i];
		ret = pthread_create(&c->vcpu[i].thread, NULL,
				     c->kvm ? kvm_cpu_thread : thread_cpu_thread, a);
		if (ret) {
			g_free(a);
			pthread_sigmask(SIG_SETMASK, &old, NULL);
			vm_error(errp, "cannot start vCPU %u's thread: %s", i, g_strerror(ret));
			return FALSE;
		}
		c->vcpu[i].started = true;
		{
			char name[16];

			g_snprintf(name, sizeof(name), "vcpu%u", i);
			pthread_setname_np(c->vcpu[i].thread, name);
		}
	}
	/*
	 * No waiting here for the threads to park: they only enter KVM_RUN once
	 * run_allowed is set, and on a busy host a new thread can wait
	 * milliseconds for its first time slice, which after a cpr-exec would
	 * be part of the guest's pause. cpus_pause() waits for them anyway.
	 */
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return TRUE;
}

void cpus_resume(struct cpus *c)
{
	pthread_mutex_lock(&c->lock);
	c->resumes++;
	c->released = 0;
	__atomic_store_n(&c->run_allowed, true, __ATOMIC_RELEASE);
	for (unsigned i = 0; i < c->nr; i++) {
		struct vcpu *v = &c->vcpu[i];

		if (v->parked && !v->dead)
			pthread_cond_signal(&v->wake);
	}
	pthread_mutex_unlock(&c->lock);
}

bool cpus_resume_handoff(struct cpus *c, unsigned timeout_us)
{
	struct timespec dl;
	bool done;

	cpus_resume(c);
	clock_gettime(CLOCK_MONOTONIC, &dl);
	dl.tv_nsec += (long)timeout_us * 1000;
	dl.tv_sec += dl.tv_nsec / 1000000000;
	dl.tv_nsec %= 1000000000;
	pthread_mutex_lock(&c->lock);
	c->handoff = true;
	/* a vCPU that failed stays in its wait for good */
	while (c->released < c->nr && !c->failed &&
	       pthread_cond_timedwait(&c->all_cond, &c->lock, &dl) != ETIMEDOUT)
		;
	done = c->released == c->nr;
	c->handoff = false;
	pthread_mutex_unlock(&c->lock);
	return done;
}

void cpus_pause(struct cpus *c)
{
	pthread_mutex_lock(&c->lock);
	__atomic_store_n(&c->run_allowed, false, __ATOMIC_RELEASE);
	for (unsigned i = 0; i < c->nr; i++) {
		struct vcpu *v = &c->vcpu[i];

		if (v->run)
			v->run->immediate_exit = 1;
		if (v->started && c->kvm)
			pthread_kill(v->thread, SIG_KICK);
	}
	while (c->parked < c->nr)
		pthread_cond_wait(&c->all_cond, &c->lock);
	pthread_mutex_unlock(&c->lock);
}

static size_t state_size(size_t hdr, uint32_t nr_msrs, uint32_t xsave_size, uint32_t nr_cpuid)
{
	return hdr + sizeof(struct cpu_state_fixed) + nr_msrs * sizeof(struct kvm_msr_entry) +
	       xsave_size + nr_cpuid * sizeof(struct kvm_cpuid_entry2);
}

size_t cpus_state_size(struct cpus *c)
{
	if (!c->kvm)
		return sizeof(struct cpu_state_hdr);
	return state_size(sizeof(struct cpu_state_hdr), c->nr_msrs, c->xsave_size, c->nr_cpuid);
}

gboolean cpus_save(struct cpus *c, unsigned i, void *buf, GError **errp)
{
	struct cpu_state_hdr *h = buf;
	struct cpu_state_fixed *f = (void *)(h + 1);
	struct kvm_msr_entry *msrs = (void *)(f + 1);
	void *xsave = msrs + c->nr_msrs;
	struct kvm_cpuid_entry2 *cpuid = (void *)((char *)xsave + c->xsave_size);
	struct kvm_cpuid2 *table = c->cpuid;
	struct vcpu *v = &c->vcpu[i];
	struct kvm_msrs *req;
	int ret;

	memset(buf, 0, cpus_state_size(c));
	h->magic = CPU_STATE_MAGIC;
	h->version = CPU_STATE_VERSION;
	h->accel = c->kvm ? ACCEL_ID_KVM : ACCEL_ID_THREAD;
	if (!c->kvm)
		return TRUE;
	h->nr_msrs = c->nr_msrs;
	h->xsave_size = c->xsave_size;
	h->nr_cpuid = c->nr_cpuid;
	/* What the guest sees, from KVM: the table set, with the bits KVM keeps current. */
	table->nent = c->nr_cpuid;
	if (ioctl(v->fd, KVM_GET_CPUID2, table) < 0 || table->nent != c->nr_cpuid) {
		vm_error(errp, "vCPU %u: KVM_GET_CPUID2: %s", i,
			 table->nent != c->nr_cpuid ? "the table changed size" : g_strerror(errno));
		return FALSE;
	}
	memcpy(cpuid, table->entries, c->nr_cpuid * sizeof(*cpuid));
	/*
	 * The FPU state only where there is no XSAVE area, which holds it
	 * too (a load uses one or the other): an ioctl less per vCPU in the
	 * pause, about 8 µs each under the reference machine's KVM.
	 */
	if (ioctl(v->fd, KVM_GET_REGS, &f->regs) < 0 ||
	    ioctl(v->fd, KVM_GET_SREGS, &f->sregs) < 0 ||
	    (!c->xsave_size && ioctl(v->fd, KVM_GET_FPU, &f->fpu) < 0) ||
	    ioctl(v->fd, KVM_GET_VCPU_EVENTS, &f->events) < 0) {
		vm_error(errp, "vCPU %u: reading registers: %s", i, g_strerror(errno));
		return FALSE;
	}
	if (ioctl(v->fd, KVM_GET_XCRS, &f->xcrs) == 0)
		h->flags |= CPU_HAS_XCRS;
	if (ioctl(v->fd, KVM_GET_DEBUGREGS, &f->debugregs) == 0)
		h->flags |= CPU_HAS_DEBUGREGS;
	if (c->xsave_size) {
		unsigned long op = c->xsave_size > sizeof(struct kvm_xsave) ?
				   KVM_GET_XSAVE2 : KVM_GET_XSAVE;

		if (ioctl(v->fd, op, xsave) < 0) {
			vm_error(errp, "vCPU %u: KVM_GET_XSAVE: %s", i, g_strerror(errno));
			return FALSE;
		}
	}
	req = g_malloc0(sizeof(*req) + c->nr_msrs * sizeof(struct kvm_msr_entry));
	req->nmsrs = c->nr_msrs;
	for (unsigned k = 0; k < c->nr_msrs; k++)
		req->entries[k].index = c->msr_index[k];
	ret = ioctl(v->fd, KVM_GET_MSRS, req);
	if (ret != (int)c->nr_msrs) {
		vm_error(errp, "vCPU %u: KVM_GET_MSRS read %d of %u MSRs (stopped at 0x%x)",
			 i, ret, c->nr_msrs, ret >= 0 && ret < (int)c->nr_msrs ? c->msr_index[ret] : 0);
		g_free(req);
		return FALSE;
	}
	memcpy(msrs, req->entries, c->nr_msrs * sizeof(struct kvm_msr_entry));
	g_free(req);
	return TRUE;
}

/*
 * The CPUID table goes in before the state that depends on it (XSAVE, the
 * MSRs). A version 1 state has none: it gets what KVM supports, as the
 * process that wrote it did.
 */
static gboolean load_cpuid(struct cpus *c, struct vcpu *v, const struct kvm_cpuid_entry2 *e,
			   uint32_t n, GError **errp)
{
	struct kvm_cpuid2 *table;

	if (!n) {
		if (!c->cpuid && !kvm_get_cpuid(c, errp))
			return FALSE;
		return kvm_set_cpuid(c, v, errp);
	}
	if (!c->cpuid) {
		c->cpuid = g_malloc0(sizeof(*table) + n * sizeof(*e));
		((struct kvm_cpuid2 *)c->cpuid)->nent = n;
	}
	table = c->cpuid;
	/* compared with the count vCPU 0's state gave, not the count KVM kept */
	if (n != table->nent) {
		vm_error(errp, "CPUID table of %u entries, vCPU 0's has %u", n, table->nent);
		return FALSE;
	}
	memcpy(table->entries, e, n * sizeof(*e));
	return kvm_set_cpuid(c, v, errp);
}

gboolean cpus_load(struct cpus *c, unsigned i, const void *buf, size_t len,
		   GError **errp)
{
	const struct cpu_state_hdr *h = buf;
	const struct cpu_state_fixed *f;
	const struct kvm_msr_entry *msrs;
	const void *xsave;
	struct vcpu *v = &c->vcpu[i];
	struct kvm_vcpu_events ev;
	struct kvm_msrs *req;
	size_t hdr_len, want;
	uint32_t nr_cpuid;
	int ret;

	if (len < CPU_STATE_HDR_V1 || h->magic != CPU_STATE_MAGIC) {
		vm_error(errp, "not a relive-vm vCPU state");
		return FALSE;
	}
	if (h->version != 1 && h->version != CPU_STATE_VERSION) {
		vm_error(errp, "vCPU state version %u, this binary reads 1 and %u", h->version,
			 CPU_STATE_VERSION);
		return FALSE;
	}
	hdr_len = h->version == 1 ? CPU_STATE_HDR_V1 : sizeof(*h);
	if (len < hdr_len) {
		vm_error(errp, "vCPU state of %zu bytes, shorter than its %zu-byte header", len,
			 hdr_len);
		return FALSE;
	}
	nr_cpuid = h->version == 1 ? 0 : h->nr_cpuid;
	if (h->accel != (c->kvm ? ACCEL_ID_KVM : ACCEL_ID_THREAD)) {
		vm_error(errp, "saved with -accel %s, this VM runs -accel %s",
			 h->accel == ACCEL_ID_KVM ? "kvm" : "thread", c->kvm ? "kvm" : "thread");
		return FALSE;
	}
	if (!c->kvm) {
		if (len == hdr_len)
			return TRUE;
		vm_error(errp, "vCPU state of %zu bytes, -accel thread saves %zu", len, hdr_len);
		return FALSE;
	}
	want = state_size(hdr_len, h->nr_msrs, h->xsave_size, nr_cpuid);
	if (len != want) {
		vm_error(errp, "vCPU state version %u of %zu bytes, expected %zu for %u MSRs, %u bytes of XSAVE and %u CPUID entries",
			 h->version, len, want, h->nr_msrs, h->xsave_size, nr_cpuid);
		return FALSE;
	}
	if (h->version != 1 && (!nr_cpuid || nr_cpuid > CPU_MAX_CPUID)) {
		vm_error(errp, "vCPU state with %u CPUID entries", nr_cpuid);
		return FALSE;
	}
	if (h->xsave_size && h->xsave_size != c->xsave_size) {
		vm_error(errp, "XSAVE area of %u bytes, this host's KVM has %u", h->xsave_size,
			 c->xsave_size);
		return FALSE;
	}
	f = (const void *)((const char *)buf + hdr_len);
	msrs = (const void *)(f + 1);
	xsave = msrs + h->nr_msrs;
	if (!load_cpuid(c, v, (const void *)((const char *)xsave + h->xsave_size), nr_cpuid,
			errp))
		return FALSE;
	if (ioctl(v->fd, KVM_SET_REGS, &f->regs) < 0) {
		vm_error(errp, "KVM_SET_REGS: %s", g_strerror(errno));
		return FALSE;
	}
	if (h->xsave_size) {
		if (ioctl(v->fd, KVM_SET_XSAVE, xsave) < 0) {
			vm_error(errp, "KVM_SET_XSAVE: %s", g_strerror(errno));
			return FALSE;
		}
	} else if (ioctl(v->fd, KVM_SET_FPU, &f->fpu) < 0) {
		vm_error(errp, "KVM_SET_FPU: %s", g_strerror(errno));
		return FALSE;
	}
	if ((h->flags & CPU_HAS_XCRS) && ioctl(v->fd, KVM_SET_XCRS, &f->xcrs) < 0) {
		vm_error(errp, "KVM_SET_XCRS: %s", g_strerror(errno));
		return FALSE;
	}
	if (ioctl(v->fd, KVM_SET_SREGS, &f->sregs) < 0) {
		vm_error(errp, "KVM_SET_SREGS: %s", g_strerror(errno));
		return FALSE;
	}
	req = g_malloc0(sizeof(*req) + h->nr_msrs * sizeof(*msrs));
	req->nmsrs = h->nr_msrs;
	memcpy(req->entries, msrs, h->nr_msrs * sizeof(*msrs));
	ret = ioctl(v->fd, KVM_SET_MSRS, req);
	g_free(req);
	if (ret != (int)h->nr_msrs) {
		vm_error(errp, "KVM_SET_MSRS wrote %d of %u MSRs (refused: 0x%x)", ret,
			 h->nr_msrs, ret >= 0 && ret < (int)h->nr_msrs ? msrs[ret].index : 0);
		return FALSE;
	}
	ev = f->events;
	ev.flags |= KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SIPI_VECTOR;
	if (ioctl(v->fd, KVM_SET_VCPU_EVENTS, &ev) < 0) {
		vm_error(errp, "KVM_SET_VCPU_EVENTS: %s", g_strerror(errno));
		return FALSE;
	}
	if ((h->flags & CPU_HAS_DEBUGREGS) &&
	    ioctl(v->fd, KVM_SET_DEBUGREGS, &f->debugregs) < 0) {
		vm_error(errp, "KVM_SET_DEBUGREGS: %s", g_strerror(errno));
		return FALSE;
	}
	/* This process saves the same MSRs next time. */
	if (!c->msr_index) {
		c->msr_index = g_new(uint32_t, h->nr_msrs + 1);
		for (unsigned k = 0; k < h->nr_msrs; k++)
			c->msr_index[k] = msrs[k].index;
		c->nr_msrs = h->nr_msrs;
	}
	return TRUE;
}
