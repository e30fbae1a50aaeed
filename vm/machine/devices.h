/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The machine's devices: the 16550 serial port at 0x3f8 (on a chardev) and
 * state-blob devices (opaque state standing in for large device state).
 * Each saves itself into the state stream and checks what it loads.
 */
#ifndef VM_DEVICES_H
#define VM_DEVICES_H

#include <stdbool.h>
#include <stdint.h>
#include <glib.h>

#include "relive/stream.h"

struct vm_monitors_ops;

#define SERIAL_NAME "serial0"
#define SERIAL_BASE 0x3f8

/* ----------------------------------------------------------------- serial */

/* serial_init - the 16550 in its reset state; output is held until attached. */
void serial_init(void);
/*
 * serial_attach - put the output on the chardev @spec ("stdio", "file:P",
 * "unix:P,server,nowait", "none"), made through @chardevs (the
 * monitors.h table: the port writes and reads through it, never naming the
 * monitors). Call after the monitors adopted what came across an exec, so a
 * preserved serial socket is taken over.
 */
gboolean serial_attach(const char *spec, const struct vm_monitors_ops *chardevs,
		       GError **errp);
/* Port I/O on 0x3f8..0x3ff, from vCPU threads. */
void serial_pio(uint16_t port, bool is_write, uint8_t *data, unsigned size);
/* Moves output the guest wrote to the chardev (main loop). */
void serial_flush(void);
int serial_save(struct rl_stream_saver *s, GError **errp);
gboolean serial_load(struct rl_stream_loader *l, GError **errp);

/* ------------------------------------------------------------- state-blob */

struct state_blob {
	char id[32];
	char data_name[40];	/* section of the bytes: "ID/data" */
	char cpr_name[48];	/* its memfd in the CPR fd table: "state-blob:ID" */
	uint64_t size;
	uint64_t seed;
	uint8_t *data;		/* @size bytes of @fd, mapped shared */
	int fd;			/* the memfd: crosses cpr-exec and cpr-transfer */
	gint loads;		/* loads in this process whose bytes matched */
	bool copy;		/* preserve=off: the bytes are written in every mode */
	bool check_pending;	/* adopted: the pattern check waits for the resume */
	bool damaged;		/* that check found other bytes: never saved again */
	bool in_cpr;		/* @fd is in the CPR fd table the next exec or transfer carries */
	GThread *checker;	/* that check, off the pause */
};

/*
 * The preserved fd named @name (id 0) of an incoming update's CPR table:
 * the fd (the caller's from then on), -ENOENT (no such entry), or another
 * -errno with @err saying what is wrong with it.
 */
typedef int (*state_blob_fd_lookup)(const char *name, struct rl_error *err,
				    void *opaque);

/* Creates the blob; @fill: make its memfd and write the pattern now (a first start). */
struct state_blob *state_blob_new(const char *id, uint64_t size, bool fill, GError **errp);
/* New seed, contents refilled: before the VM stops for a save. Return: 0 or -errno. */
int state_blob_reseed(struct state_blob *b);
/*
 * In cpr-exec and cpr-transfer a reference to the memfd ("BLB3"), which
 * the caller has put in the CPR fd table under @b->cpr_name; in the other
 * modes the bytes ("BLB2").
 */
int state_blob_save(struct state_blob *b, struct rl_stream_saver *s);
/*
 * Loads the bytes and checks every one against the pattern of the saved
 * seed; or, for a reference, adopts the preserved memfd found through
 * @lookup once it is the right one (size, seals, first and last word), and
 * leaves the check of every byte to state_blob_check_start().
 */
gboolean state_blob_load(struct state_blob *b, struct rl_stream_loader *l,
			 state_blob_fd_lookup lookup, void *opaque, GError **errp);
/*
 * After the resume: the check of every byte of an adopted memfd, in a
 * thread (it reads all of it, too slow for the pause). @b->loads counts it
 * when it passes; a mismatch is printed with its offset.
 */
void state_blob_check_start(struct state_blob *b);
/* Waits for that check (before the bytes change or go). Return: it passed. */
gboolean state_blob_check_wait(struct state_blob *b);
void state_blob_free(struct state_blob *b);

#endif
