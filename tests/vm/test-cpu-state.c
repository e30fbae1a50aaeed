// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * relive-vm's vCPU sections across cpr-exec updates, with real processes:
 * the CPUID table a guest saw is the one it sees after the update (not what
 * KVM supports in the new process), a vCPU section written before the table
 * was saved (version 1) still loads, and a section this binary cannot read
 * is refused with a message naming it, and a vCPU that fails as soon as it
 * runs again leaves a VM that answers. The state file is edited between the
 * save and the load by this program itself, run as the front of
 * cpr-exec-command: test-vm-cpu-state --edit OP FILE COMMAND...
 * Usage: test-vm-cpu-state kvm|thread CASE.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "relive/crc32c.h"

#define PATTERN_OFF (64ull << 20)
#define PATTERN_LEN (16ull << 20)
#define SEED 0xc9d1

/* docs/format.md: the stream's framing */
#define FILE_HDR 128u
#define SEC_HDR 64u
#define SEC_MAGIC 0x43534c52u
#define SEC_CPU 2u
#define SEC_FOOTER 5u
#define SEC_EXTENT 0x1u

/* docs/format.md: relive-vm's vCPU payload */
#define CPU_MAGIC 0x50434c52u
#define CPU_HDR_V1 24u
#define CPU_HDR_V2 32u
#define CPU_VERSION 4
#define CPU_NR_CPUID 24
#define CPUID_ENTRY 40u
#define SREGS_CS_BASE 144u	/* struct kvm_sregs after struct kvm_regs, cs first */
#define NO_MEMORY_GPA 0x80000000u	/* above RAM, below the ROM */

#define BRAND "relive: the CPUID table came from the state stream."

static const char *accel;
static char *state;
static char *self;

static uint32_t get32(const unsigned char *p)
{
	return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = v >> (8 * i);
}

static uint64_t get64(const unsigned char *p)
{
	return get32(p) | (uint64_t)get32(p + 4) << 32;
}

static uint64_t align(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

static GByteArray *load(const char *path)
{
	GByteArray *b = g_byte_array_new();
	unsigned char chunk[65536];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	hv_assert(fd >= 0, "%s: %s", path, g_strerror(errno));
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		g_byte_array_append(b, chunk, n);
	close(fd);
	hv_assert(n == 0 && b->len > FILE_HDR, "%s: cannot read it", path);
	return b;
}

static void store(const char *path, const GByteArray *b)
{
	int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);

	hv_assert(fd >= 0 && write(fd, b->data, b->len) == (ssize_t)b->len,
		  "%s: cannot write it", path);
	close(fd);
}

/* Calls @fn for every section, the footer last; Return: the footer's offset. */
static size_t walk(GByteArray *b, void (*fn)(unsigned char *hdr, void *opaque), void *opaque)
{
	size_t off = FILE_HDR;

	for (;;) {
		unsigned char *h = b->data + off;
		uint32_t plen;

		hv_assert(off + SEC_HDR <= b->len && get32(h) == SEC_MAGIC,
			  "no section at offset %zu", off);
		plen = get32(h + 40);
		if (fn)
			fn(h, opaque);
		if ((h[4] | h[5] << 8) == SEC_FOOTER)
			return off;
		if ((h[6] | h[7] << 8) & SEC_EXTENT)
			off = align(align(off + SEC_HDR + plen, 4096) + get64(h + 48), 4096);
		else
			off = align(off + SEC_HDR + plen, 8);
	}
}

static bool is_cpu(const unsigned char *h)
{
	return (h[4] | h[5] << 8) == SEC_CPU;
}

/* New payload CRC, then the header's own. */
static void seal(unsigned char *h)
{
	put32(h + 44, rl_crc32c(0, h + SEC_HDR, get32(h + 40)));
	put32(h + 60, rl_crc32c(0, h, 60));
}

/* The CPUID entries of a version 2 KVM vCPU payload, or NULL. */
static unsigned char *cpuid_of(unsigned char *h, uint32_t *n)
{
	unsigned char *p = h + SEC_HDR;
	uint32_t plen = get32(h + 40);

	*n = 0;
	if (plen < CPU_HDR_V2 || get32(p) != CPU_MAGIC || get32(p + CPU_VERSION) != 2)
		return NULL;
	*n = get32(p + CPU_NR_CPUID);
	hv_assert((uint64_t)*n * CPUID_ENTRY <= plen - CPU_HDR_V2,
		  "CPUID count %u past the payload", *n);
	return *n ? p + plen - *n * CPUID_ENTRY : NULL;
}

static void edit_brand(unsigned char *h, void *opaque)
{
	unsigned *done = opaque;
	unsigned char *e;
	uint32_t n;

	if (!is_cpu(h) || !(e = cpuid_of(h, &n)))
		return;
	for (uint32_t i = 0; i < n; i++, e += CPUID_ENTRY) {
		uint32_t fn = get32(e);

		if (fn < 0x80000002u || fn > 0x80000004u)
			continue;
		/* eax, ebx, ecx, edx: 16 bytes of the brand string per leaf */
		memcpy(e + 12, BRAND + (fn - 0x80000002u) * 16, 16);
		(*done)++;
	}
	seal(h);
}

static void edit_version(unsigned char *h, void *opaque)
{
	if (!is_cpu(h))
		return;
	put32(h + SEC_HDR + CPU_VERSION, 99);
	seal(h);
}

/* vCPU 0's code segment moves where there is no memory: it cannot fetch an instruction. */
static void edit_fault(unsigned char *h, void *opaque)
{
	unsigned char *p = h + SEC_HDR;

	if (!is_cpu(h) || strcmp((const char *)h + 8, "cpu/0"))
		return;
	put32(p + CPU_HDR_V2 + SREGS_CS_BASE, NO_MEMORY_GPA);
	seal(h);
}

static void edit_nent(unsigned char *h, void *opaque)
{
	uint32_t n;

	if (!is_cpu(h) || !cpuid_of(h, &n))
		return;
	put32(h + SEC_HDR + CPU_NR_CPUID, n + 1);
	seal(h);
}

/*
 * The vCPU sections as a binary before the CPUID table wrote them: the
 * 24-byte version 1 header and no table. The file is rebuilt, so every
 * section after them moves; a cpr-exec stream of shared RAM has no extent.
 */
static GByteArray *to_v1(GByteArray *b)
{
	GByteArray *out = g_byte_array_new();
	size_t off = FILE_HDR;
	uint32_t nsec = 0;

	g_byte_array_append(out, b->data, FILE_HDR);
	for (;;) {
		unsigned char *h = b->data + off, *p = h + SEC_HDR, *nh;
		uint32_t plen = get32(h + 40), nlen = plen, n = 0;
		static const unsigned char zero[8];
		size_t at = out->len;
		bool footer = (h[4] | h[5] << 8) == SEC_FOOTER;

		hv_assert(get32(h) == SEC_MAGIC, "no section at offset %zu", off);
		hv_assert(!((h[6] | h[7] << 8) & SEC_EXTENT), "a section with an extent");
		g_byte_array_append(out, h, SEC_HDR);
		if (is_cpu(h) && get32(p) == CPU_MAGIC && get32(p + CPU_VERSION) == 2) {
			cpuid_of(h, &n);
			nlen = plen - (CPU_HDR_V2 - CPU_HDR_V1) - n * CPUID_ENTRY;
			g_byte_array_append(out, p, CPU_HDR_V1);
			put32(out->data + at + SEC_HDR + CPU_VERSION, 1);
			g_byte_array_append(out, p + CPU_HDR_V2, nlen - CPU_HDR_V1);
		} else if (footer) {
			unsigned char f[16] = { 0 };

			put32(f, nsec);
			put32(f + 8, at + SEC_HDR + 16);
			g_byte_array_append(out, f, sizeof(f));
		} else {
			g_byte_array_append(out, p, plen);
		}
		nh = out->data + at;
		put32(nh + 40, nlen);
		seal(nh);
		if (footer)
			return out;
		nsec++;
		g_byte_array_append(out, zero, align(out->len, 8) - out->len);
		off = align(off + SEC_HDR + plen, 8);
	}
}

/* test-vm-cpu-state --edit OP FILE COMMAND...: edits FILE, then execs COMMAND. */
static int edit_main(char **argv)
{
	const char *op = argv[2], *path = argv[3];
	GByteArray *b = load(path);
	unsigned done = 0;

	if (!strcmp(op, "brand")) {
		walk(b, edit_brand, &done);
		hv_assert(done && done % 3 == 0, "no brand-string leaves in the CPUID tables");
	} else if (!strcmp(op, "version")) {
		walk(b, edit_version, NULL);
	} else if (!strcmp(op, "fault")) {
		walk(b, edit_fault, NULL);
	} else if (!strcmp(op, "nent")) {
		walk(b, edit_nent, NULL);
	} else if (!strcmp(op, "v1")) {
		GByteArray *o = to_v1(b);

		g_byte_array_unref(b);
		b = o;
	} else {
		hv_fail("unknown edit %s", op);
	}
	store(path, b);
	g_byte_array_unref(b);
	execv(argv[4], argv + 4);
	hv_fail("%s: %s", argv[4], g_strerror(errno));
}

static void append_cpuid(unsigned char *h, void *opaque)
{
	GByteArray *t = opaque;
	unsigned char *e;
	uint32_t n;

	if (!is_cpu(h))
		return;
	e = cpuid_of(h, &n);
	hv_assert(e, "a vCPU section without CPUID table (version %u)",
		  get32(h + SEC_HDR + CPU_VERSION));
	g_byte_array_append(t, e, n * CPUID_ENTRY);
}

/* Every vCPU section's CPUID entries, in section order. */
static GByteArray *cpuid_tables(const char *path)
{
	GByteArray *b = load(path), *t = g_byte_array_new();

	walk(b, append_cpuid, t);
	g_byte_array_unref(b);
	return t;
}

static void first_version(unsigned char *h, void *opaque)
{
	unsigned *v = opaque;

	if (is_cpu(h) && !*v)
		*v = get32(h + SEC_HDR + CPU_VERSION);
}

/* The version of the vCPU sections in @path. */
static unsigned cpu_version(const char *path)
{
	GByteArray *b = load(path);
	unsigned v = 0;

	walk(b, first_version, &v);
	g_byte_array_unref(b);
	return v;
}

/* ------------------------------------------------------------------ cases */

static void set_update(struct hv_vm *v, const char *edit)
{
	/* [this program --edit OP FILE] [trampoline --] relive-vm ARGS -incoming file:FILE */
	const char *pre[8] = { NULL };
	const char *suf[] = { "-incoming", NULL, NULL };
	g_autofree char *in = g_strdup_printf("file:%s", state);
	g_autofree char *cmd = NULL;
	g_autofree char *args = NULL;
	unsigned n = 0;

	suf[1] = in;
	if (edit) {
		pre[n++] = self;
		pre[n++] = "--edit";
		pre[n++] = edit;
		pre[n++] = state;
	}
	if (hv_trampoline()) {
		pre[n++] = hv_trampoline();
		pre[n++] = "--";
	}
	cmd = hv_vm_argv_json(v, pre, suf);
	args = g_strdup_printf("{\"mode\": \"cpr-exec\", \"cpr-exec-command\": %s}", cmd);
	json_node_unref(hv_qmp(v, "migrate-set-parameters", args));
}

static void migrate(struct hv_vm *v)
{
	g_autofree char *args = g_strdup_printf("{\"uri\": \"file:%s\"}", state);

	qmp_events_clear(v->qmp);
	json_node_unref(hv_qmp(v, "migrate", args));
}

/* One update that must succeed: same PID, running, heartbeats on, no rollback. */
static void update(struct hv_vm *v, const void *ram, const char *edit)
{
	uint64_t before[2] = { hv_heartbeat(ram, 0), hv_heartbeat(ram, 1) };
	pid_t pid = v->pid;
	g_autofree char *st = NULL;
	g_autofree char *log = NULL;

	set_update(v, edit);
	migrate(v);
	hv_wait_event(v, "RESUME");
	log = hv_vm_log(v);
	hv_assert(v->pid == pid && !hv_vm_exited(v, NULL), "the VM is gone; its log:\n%s", log);
	hv_assert(!strstr(log, "rolling back"), "the update rolled back:\n%s", log);
	st = hv_status(v);
	hv_assert(!strcmp(st, "running"), "status is '%s', expected running", st);
	hv_assert(hv_heartbeats_advance(ram, 2, before, 5000), "heartbeats stuck; log:\n%s", log);
	hv_assert(hv_pattern_check((const char *)ram + PATTERN_OFF, PATTERN_LEN, SEED) ==
		  PATTERN_LEN, "the RAM pattern is damaged");
	json_node_unref(hv_wait_migration(v, "completed"));
}

/* A VM of 256 MiB and 2 vCPUs, its files prefixed with @name; its RAM with a pattern. */
static void *start(struct hv_vm *v, const char *name)
{
	void *ram;

	hv_vm_start_as(v, name, accel, 256, 2, NULL, TRUE);
	ram = hv_map_ram(v->pid, "ram0", 256ull << 20);
	hv_assert(ram, "cannot map ram0");
	hv_pattern_fill((char *)ram + PATTERN_OFF, PATTERN_LEN, SEED);
	return ram;
}

/*
 * The table the guest saw goes across the update, whatever KVM supports in
 * the new process: an update whose state file carries an edited table (a
 * brand string KVM never reports) must give the guest that table, so the
 * next update saves it again, read back from KVM.
 */
static void case_cpuid(void)
{
	g_autoptr(GByteArray) orig = NULL, edited = NULL, after = NULL;
	struct hv_vm v;
	void *ram = start(&v, NULL);

	update(&v, ram, NULL);
	orig = cpuid_tables(state);
	hv_assert(orig->len && orig->len % CPUID_ENTRY == 0, "no CPUID table in the vCPU sections");

	update(&v, ram, "brand");
	edited = cpuid_tables(state); /* the file the new process loaded */
	hv_assert(edited->len == orig->len && memcmp(edited->data, orig->data, orig->len),
		  "the edit did not change the table");

	update(&v, ram, NULL);
	after = cpuid_tables(state);
	hv_assert(after->len == edited->len && !memcmp(after->data, edited->data, after->len),
		  "the CPUID table changed across the update (%u bytes before, %u after)",
		  edited->len, after->len);
	printf("CPUID: %u entries per vCPU carried across the update, brand string included\n",
	       orig->len / CPUID_ENTRY / 2);
	hv_vm_stop(&v);
}

/* A version 1 file, from a binary before the table was saved, loads; the next save is version 2. */
static void case_old_section(void)
{
	struct hv_vm v;
	void *ram = start(&v, NULL);

	update(&v, ram, NULL);
	hv_assert(cpu_version(state) == 2, "vCPU sections of version %u written",
		  cpu_version(state));
	update(&v, ram, "v1");
	hv_assert(cpu_version(state) == 1, "the edit did not make a version 1 file");
	update(&v, ram, NULL);
	hv_assert(cpu_version(state) == 2,
		  "vCPU sections of version %u written after a version 1 load", cpu_version(state));
	hv_vm_stop(&v);
}

/*
 * A vCPU section this binary cannot read: the load is refused before the
 * guest runs, naming the section and what is wrong; the rollback binary
 * refuses the same file and the VM exits, guest RAM untouched.
 */
static void refused(const char *edit, const char *want)
{
	g_autofree char *name = g_strdup_printf("%s-", edit);
	struct hv_vm v;
	void *ram = start(&v, name);
	g_autofree char *log = NULL;
	uint64_t hb;
	int status = 0;

	update(&v, ram, NULL);
	set_update(&v, edit);
	migrate(&v);
	for (int i = 0; i < 1000 && !hv_vm_exited(&v, &status); i++)
		g_usleep(10000);
	log = hv_vm_log(&v);
	hv_assert(v.pid == 0, "the VM did not exit on a vCPU section it cannot read:\n%s", log);
	hv_assert(WIFEXITED(status) && WEXITSTATUS(status) != 0, "exit status %d", status);
	hv_assert(strstr(log, "section 'cpu/0'") && strstr(log, want),
		  "the error does not name the vCPU section and '%s':\n%s", want, log);
	hb = hv_heartbeat(ram, 0);
	hv_assert(hv_pattern_check((char *)ram + PATTERN_OFF, PATTERN_LEN, SEED) == PATTERN_LEN,
		  "a refused load touched guest RAM");
	g_usleep(50000);
	hv_assert(hv_heartbeat(ram, 0) == hb, "the guest ran after a refused load");
	printf("%s: refused: %s\n", edit, strstr(log, "section 'cpu/0'"));
	hv_vm_stop(&v);
}

static void case_refused(void)
{
	refused("version", "vCPU state version 99, this binary reads 1 and 2");
	if (!strcmp(accel, "kvm"))
		refused("nent", "CPUID entries");
}

/*
 * vCPU 0 fails as soon as the new process lets it run: the resume does not
 * wait for it for good, the VM stops with internal-error and its monitors
 * answer.
 */
static void case_vcpu_fails(void)
{
	struct hv_vm v;
	void *ram = start(&v, NULL);
	g_autofree char *log = NULL;
	g_autofree char *st = NULL;
	pid_t pid = v.pid;

	update(&v, ram, NULL);
	set_update(&v, "fault");
	migrate(&v);
	hv_wait_event(&v, "RESUME");
	for (int i = 0; i < 500; i++) {
		g_free(st);
		st = hv_status(&v);
		if (!strcmp(st, "internal-error"))
			break;
		g_usleep(10000);
	}
	log = hv_vm_log(&v);
	hv_assert(v.pid == pid && !hv_vm_exited(&v, NULL), "the VM is gone:\n%s", log);
	hv_assert(!strcmp(st, "internal-error"), "status '%s' after a vCPU failed:\n%s", st, log);
	hv_assert(strstr(log, "vCPU 0:"), "the log does not name the vCPU:\n%s", log);
	printf("vCPU 0 failed after the update: %s", strstr(log, "vCPU 0:"));
	hv_vm_stop(&v);
}

int main(int argc, char **argv)
{
	const char *c;

	if (argc > 5 && !strcmp(argv[1], "--edit"))
		return edit_main(argv);
	accel = hv_accel(argc, argv);
	c = argc > 2 ? argv[2] : "";
	self = g_file_read_link("/proc/self/exe", NULL);
	state = hv_path("vm.state");
	if (!strcmp(c, "cpuid")) {
		if (strcmp(accel, "kvm")) {
			fprintf(stderr, "cpuid: -accel thread has no CPUID; run it with kvm\n");
			hv_cleanup();
			return 2;
		}
		case_cpuid();
	} else if (!strcmp(c, "old-section")) {
		case_old_section();
	} else if (!strcmp(c, "refused")) {
		case_refused();
	} else if (!strcmp(c, "vcpu-fails")) {
		if (strcmp(accel, "kvm")) {
			fprintf(stderr, "vcpu-fails: -accel thread runs no guest code; run it with kvm\n");
			hv_cleanup();
			return 2;
		}
		case_vcpu_fails();
	} else {
		fprintf(stderr, "usage: %s kvm|thread cpuid|old-section|refused|vcpu-fails\n",
			argv[0]);
		return 2;
	}
	hv_cleanup();
	return 0;
}
