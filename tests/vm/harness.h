/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the relive-vm integration tests share: a private temporary
 * directory, starting relive-vm, QMP (the bench's client) and HMP over
 * their unix sockets, mapping a VM's guest RAM through /proc/PID/fd, and
 * reading the heartbeats (docs/guest.md).
 */
#ifndef TESTS_VM_HARNESS_H
#define TESTS_VM_HARNESS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <glib.h>

#include "qmp-client.h"

#define HV_SKIP 77
#define HV_TIMEOUT_MS 20000

/* Fails the test with a message (exit 1). */
#define hv_fail(...) hv_fail_at(__FILE__, __LINE__, __VA_ARGS__)
#define hv_assert(cond, ...) do { if (!(cond)) hv_fail(__VA_ARGS__); } while (0)
G_NORETURN void hv_fail_at(const char *file, int line, const char *fmt, ...)
	G_GNUC_PRINTF(3, 4);

/* Where things are: the build tree's relive-vm and relive-trampoline. */
const char *hv_vm_binary(void);
/* Return: the trampoline's path, or NULL when it was not built. */
const char *hv_trampoline(void);

/*
 * The accelerator a test runs with: "kvm" or "thread" from argv or
 * RELIVE_TEST_ACCEL. Exits 77 when "kvm" was asked for and /dev/kvm does
 * not open (the kernel's answer).
 */
const char *hv_accel(int argc, char **argv);

/* A new directory under /tmp, removed with everything in it by hv_cleanup(). */
const char *hv_tmpdir(void);
char *hv_path(const char *name);	/* hv_tmpdir()/name, g_free */
/* Kills every VM still running, then removes the directory. */
void hv_cleanup(void);
/* A VM started without hv_vm_start(), to be killed by hv_cleanup(). */
void hv_track_pid(pid_t pid);

struct hv_vm {
	pid_t pid;
	char **argv;		/* the command line (without -incoming) */
	char *qmp_path;
	char *hmp_path;
	char *log;
	struct qmp_client *qmp;
};

/*
 * hv_vm_start - start relive-vm with @ram_mib of memfd RAM (aux-ram-share),
 * @smp vCPUs, -accel @accel, a QMP socket and an HMP socket in the temporary
 * directory, the serial port in a file, and @extra arguments (NULL-terminated,
 * may be NULL); connects QMP. Fails the test if the VM does not come up.
 */
void hv_vm_start(struct hv_vm *v, const char *accel, unsigned ram_mib,
		 unsigned smp, const char *const *extra);
/*
 * hv_vm_start_as - hv_vm_start() with the sockets, log and serial file
 * named @name-prefixed (a second VM beside the first: "new-"), connecting
 * QMP only when @connect (else hv_vm_connect() later). @ram_mib 0: no
 * memory options of its own, @extra gives them.
 */
void hv_vm_start_as(struct hv_vm *v, const char *name, const char *accel,
		    unsigned ram_mib, unsigned smp, const char *const *extra,
		    gboolean connect);
void hv_vm_connect(struct hv_vm *v);
/* The same command line as a JSON list of strings, with @suffix words appended. */
char *hv_vm_argv_json(const struct hv_vm *v, const char *const *prefix,
		      const char *const *suffix);
/* Quits the VM (QMP, then SIGKILL) and reaps it. */
void hv_vm_stop(struct hv_vm *v);
/* Return: TRUE if the VM process has exited (reaped; @status set). */
gboolean hv_vm_exited(struct hv_vm *v, int *status);
/* The VM's log (stdout and stderr), g_free. */
char *hv_vm_log(const struct hv_vm *v);

/* QMP: runs @cmd with @args (JSON text or NULL); fails the test on error. */
JsonNode *hv_qmp(struct hv_vm *v, const char *cmd, const char *args);
/* QMP: the error description of a command expected to fail (g_free). */
char *hv_qmp_error(struct hv_vm *v, const char *cmd, const char *args);
/* query-status's "status" (g_free). */
char *hv_status(struct hv_vm *v);
/* Waits for QMP event @name; fails the test on timeout. */
void hv_wait_event(struct hv_vm *v, const char *name);
/* Polls query-migrate until its status is @status; returns the reply. */
JsonNode *hv_wait_migration(struct hv_vm *v, const char *status);

/* HMP over a fresh connection to @path: the command's output (g_free). */
struct hv_hmp;
struct hv_hmp *hv_hmp_connect(const char *path);
char *hv_hmp(struct hv_hmp *h, const char *line);
void hv_hmp_close(struct hv_hmp *h);

/*
 * Guest RAM of process @pid: the memfd of RAM block @block, mapped shared
 * through /proc/PID/fd. The mapping stays valid after the VM execs (the
 * memfd lives on). Return: the mapping (@size bytes) or NULL.
 */
void *hv_map_ram(pid_t pid, const char *block, uint64_t size);
uint64_t hv_heartbeat(const void *ram, unsigned vcpu);
/* Waits until every one of @n heartbeats advanced past @before[i]; FALSE on timeout. */
gboolean hv_heartbeats_advance(const void *ram, unsigned n,
			       const uint64_t *before, int timeout_ms);

/* Fills / checks @len bytes at @p with a pattern of @seed. */
void hv_pattern_fill(void *p, uint64_t len, uint64_t seed);
/* Return: the offset of the first wrong byte, or @len. */
uint64_t hv_pattern_check(const void *p, uint64_t len, uint64_t seed);

#endif
