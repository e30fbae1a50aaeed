/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * relive-vm's command line: QEMU's spelling for the subset relive-vm
 * implements, parsed into one struct vm_options. Parsing does no I/O and
 * creates nothing, so it can run before the CPR state is read.
 */
#ifndef VM_OPTIONS_H
#define VM_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>
#include <glib.h>

enum mem_kind {
	MEM_MEMFD,
	MEM_FILE,
	MEM_RAM,
};

/* One -object memory-backend-* */
struct mem_object {
	char *id;
	enum mem_kind kind;
	uint64_t size;
	bool share;
	bool hugetlb;
	bool prealloc;
	int host_node; /* -1: none */
	bool policy_bind;
	char *mem_path;
};

/* One -device state-blob */
struct blob_option {
	char *id;
	uint64_t size;
	bool copy;	/* preserve=off: written in every mode */
};

enum accel_kind {
	ACCEL_AUTO,
	ACCEL_KVM,
	ACCEL_THREAD,
};

struct vm_options {
	uint64_t ram_size;	/* -m; 0 when not given */
	unsigned smp;
	GPtrArray *objects;	/* struct mem_object * */
	char *memory_backend;	/* -machine memory-backend= */
	bool aux_ram_share;
	enum accel_kind accel;
	bool touch_ram;		/* -accel thread,touch-ram=on */
	char *serial;		/* -serial; NULL: default */
	GPtrArray *monitors;	/* -monitor specs */
	GPtrArray *qmps;	/* -qmp specs */
	GPtrArray *incoming;	/* -incoming, in order (cpr-transfer gives two) */
	GPtrArray *blobs;	/* struct blob_option * */
	char *pidfile;
	bool daemonize;
	bool help;
	bool version;
};

/*
 * options_parse - fill @o from @argv. Return: TRUE, or FALSE with @errp
 * naming the option and what is wrong with it.
 */
gboolean options_parse(struct vm_options *o, int argc, char **argv,
		       GError **errp);
struct mem_object *options_find_object(const struct vm_options *o,
				       const char *id);
void options_print_help(void);

#endif
