/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * vCPUs: one host thread each, parked and resumed together; the two
 * accelerators behind them (KVM running the built-in guest program, and
 * "thread", which runs no guest code and writes the heartbeat itself), and
 * each vCPU's complete state as a byte string for the state stream.
 */
#ifndef VM_CPUS_H
#define VM_CPUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <glib.h>

#include "machine/memory.h"

#define HEARTBEAT_GPA 0x1000u
#define HEARTBEAT_STRIDE 64u

struct kvm_run;

struct vcpu {
	unsigned index;
	pthread_t thread;
	bool started;
	unsigned resumes;	/* c->resumes when it last left its wait */
	int fd;			/* KVM vCPU fd, -1 for thread */
	struct kvm_run *run;
	volatile uint64_t *heartbeat; /* thread accel */
	/* touch-ram: its share of guest RAM, and the next page it writes */
	volatile uint8_t *touch;
	uint64_t touch_pages;
	uint64_t touch_next;
	/*
	 * Its own condition, so that a state change wakes only the vCPUs it
	 * moves: with one condition shared by all, each thread that parked
	 * woke every other parked one, which parked again and did the same.
	 */
	pthread_cond_t wake;
	bool parked;		/* in its wait (under cpus.lock) */
	bool dead;		/* failed: stays parked for good */
};

/*
 * Port I/O from the guest: @is_write, @port, @data (@size bytes); called on
 * the vCPU's thread.
 */
typedef void (*cpus_pio_fn)(uint16_t port, bool is_write, uint8_t *data,
			    unsigned size);

struct cpus {
	bool kvm;
	int kvm_fd;
	int vm_fd;
	size_t run_size;
	void *cpuid;		/* struct kvm_cpuid2, room for nr_cpuid entries */
	unsigned nr_cpuid;	/* CPUID entries of each vCPU */
	uint32_t *msr_index;	/* the MSRs saved and restored */
	unsigned nr_msrs;
	uint32_t xsave_size;
	unsigned nr;
	struct vcpu *vcpu;
	cpus_pio_fn pio;
	bool touch_ram;		/* thread: each vCPU writes every page of its share */

	pthread_mutex_t lock;
	pthread_cond_t all_cond;	/* the caller waits: all parked, all released */
	bool run_allowed;
	unsigned parked;
	unsigned resumes;	/* cpus_resume() calls */
	unsigned released;	/* vCPUs that left their wait since the last one */
	bool handoff;		/* cpus_resume_handoff() waits for them */
	bool failed;		/* a vCPU hit an error KVM reported */
	char *fail_msg;
	GSourceFunc on_fail;	/* run on the main loop after a failure */
};

/*
 * cpus_open_kvm - open /dev/kvm and create the VM.
 * Return: 0, -ENOENT/-EACCES... when /dev/kvm cannot be opened (the caller
 * may fall back to the thread accelerator), or another -errno with @errp.
 */
int cpus_open_kvm(struct cpus *c, GError **errp);

/*
 * cpus_map_memory - map every RAM block of @mem into the VM at its
 * guest-physical address, in memory slots of at most @max_slot bytes (a
 * multiple of 1 GiB; 0: one slot per block, the fastest in all).
 *
 * KVM builds a slot's reverse map, one entry per 4 KiB page where it
 * shadows the guest's page tables, in one go in the kernel: 0.47 ms per GiB
 * on the reference machine. A guest that runs meanwhile in another process
 * (cpr-transfer's old one, while the new one sets up) stalls for about as
 * long; slots of 1 GiB let it run between them, for about 20 % more time in
 * all (16 GiB, side by side: the guest's longest stall 4.5 -> 1.5 ms).
 */
#define CPUS_SLOT_WHILE_GUEST_RUNS (1ull << 30)
gboolean cpus_map_memory(struct cpus *c, struct vm_memory *mem, uint64_t max_slot,
			 GError **errp);

/*
 * cpus_create - create @nr vCPUs (KVM when cpus_open_kvm() succeeded,
 * thread otherwise) with their threads parked, registers at the guest
 * program's entry. A first start gives them the CPUID KVM supports and
 * finds which MSRs KVM can read and write back. With @from_state a saved
 * state is loaded before they first run: the guest has seen its CPUID
 * already, so the table and the MSR list come from the stream (cpus_load()).
 */
gboolean cpus_create(struct cpus *c, unsigned nr, struct vm_memory *mem,
		     uint32_t entry, bool from_state, cpus_pio_fn pio,
		     GError **errp);

/* Lets every vCPU run. */
void cpus_resume(struct cpus *c);
/*
 * cpus_resume_handoff - cpus_resume(), then wait up to @timeout_us until
 * every vCPU thread has left its wait (or one failed): a thread just woken
 * may wait for a CPU that the caller would otherwise keep for work that can
 * come after the guest runs. Return: false on timeout.
 */
bool cpus_resume_handoff(struct cpus *c, unsigned timeout_us);
/* How long an incoming VMM lets its vCPUs go first after the load. */
#define CPUS_HANDOFF_US 2000
/* Stops every vCPU and waits until all are parked. */
void cpus_pause(struct cpus *c);

/* Size of one vCPU's saved state. */
size_t cpus_state_size(struct cpus *c);
/* Fills @buf (cpus_state_size() bytes) with vCPU @i's state. Parked vCPUs only. */
gboolean cpus_save(struct cpus *c, unsigned i, void *buf, GError **errp);
/*
 * Restores vCPU @i from @buf (@len bytes), its CPUID table first; the error
 * names the part that failed. Only before the vCPU first ran.
 */
gboolean cpus_load(struct cpus *c, unsigned i, const void *buf, size_t len,
		   GError **errp);

#endif
