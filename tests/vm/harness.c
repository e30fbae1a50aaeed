// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The relive-vm integration tests' shared pieces: temporary directory,
 * starting and stopping relive-vm, QMP (bench/qmp-client.c) and HMP
 * clients, guest RAM mapped from /proc/PID/fd, heartbeats and patterns.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/close_range.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

static char *tmpdir;
static pid_t live[16];	/* VMs started and not reaped: killed by hv_cleanup() */

static void track(pid_t pid, bool add)
{
	for (unsigned i = 0; i < G_N_ELEMENTS(live); i++) {
		if (add ? live[i] == 0 : live[i] == pid) {
			live[i] = add ? pid : 0;
			return;
		}
	}
}

void hv_track_pid(pid_t pid)
{
	track(pid, true);
}

void hv_fail_at(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "FAIL %s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	hv_cleanup();
	exit(1);
}

const char *hv_vm_binary(void)
{
	const char *p = getenv("RELIVE_VM");

	return p ? p : RELIVE_BUILD_ROOT "/vm/relive-vm";
}

const char *hv_trampoline(void)
{
	const char *p = getenv("RELIVE_TRAMPOLINE");

	if (!p)
		p = RELIVE_BUILD_ROOT "/trampoline/relive-trampoline";
	return access(p, X_OK) == 0 ? p : NULL;
}

const char *hv_accel(int argc, char **argv)
{
	const char *a = argc > 1 ? argv[1] : getenv("RELIVE_TEST_ACCEL");
	int fd;

	if (!a)
		a = "thread";
	if (strcmp(a, "kvm"))
		return "thread";
	fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "SKIP: /dev/kvm: %s\n", strerror(errno));
		exit(HV_SKIP);
	}
	close(fd);
	return "kvm";
}

const char *hv_tmpdir(void)
{
	if (!tmpdir) {
		tmpdir = g_strdup("/tmp/relive-vm-test-XXXXXX");
		if (!mkdtemp(tmpdir)) {
			perror("mkdtemp");
			exit(1);
		}
	}
	return tmpdir;
}

char *hv_path(const char *name)
{
	return g_build_filename(hv_tmpdir(), name, NULL);
}

static void rm_rf(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d))) {
		g_autofree char *p = NULL;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		p = g_build_filename(dir, e->d_name, NULL);
		if (unlink(p) < 0 && errno == EISDIR)
			rm_rf(p);
	}
	closedir(d);
	rmdir(dir);
}

void hv_cleanup(void)
{
	for (unsigned i = 0; i < G_N_ELEMENTS(live); i++) {
		if (live[i] > 0) {
			kill(live[i], SIGKILL);
			waitpid(live[i], NULL, 0);
			live[i] = 0;
		}
	}
	if (tmpdir)
		rm_rf(tmpdir);
	g_clear_pointer(&tmpdir, g_free);
}

static pid_t spawn(char **argv, const char *log)
{
	pid_t pid = fork();

	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		int null = open("/dev/null", O_RDONLY | O_CLOEXEC);

		dup2(null, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		/* the VM starts with 0, 1, 2 only, as a service manager would start it */
		close_range(3, ~0u, CLOSE_RANGE_CLOEXEC);
		execv(argv[0], argv);
		_exit(127);
	}
	return pid;
}

void hv_vm_start(struct hv_vm *v, const char *accel, unsigned ram_mib,
		 unsigned smp, const char *const *extra)
{
	hv_vm_start_as(v, NULL, accel, ram_mib, smp, extra, TRUE);
}

void hv_vm_start_as(struct hv_vm *v, const char *name, const char *accel,
		    unsigned ram_mib, unsigned smp, const char *const *extra,
		    gboolean connect)
{
	GPtrArray *a = g_ptr_array_new();
	const char *n = name ? name : "";
	g_autofree char *sname = g_strdup_printf("%sserial.txt", n);
	g_autofree char *qname = g_strdup_printf("%sqmp.sock", n);
	g_autofree char *hname = g_strdup_printf("%shmp.sock", n);
	g_autofree char *lname = g_strdup_printf("%svm.log", n);
	g_autofree char *serial = hv_path(sname);

	memset(v, 0, sizeof(*v));
	v->qmp_path = hv_path(qname);
	v->hmp_path = hv_path(hname);
	v->log = hv_path(lname);
	g_ptr_array_add(a, g_strdup(hv_vm_binary()));
	if (ram_mib) { /* else @extra describes the memory */
		g_ptr_array_add(a, g_strdup("-object"));
		g_ptr_array_add(a, g_strdup_printf("memory-backend-memfd,id=ram0,size=%uM",
						   ram_mib));
		g_ptr_array_add(a, g_strdup("-machine"));
		g_ptr_array_add(a, g_strdup("memory-backend=ram0,aux-ram-share=on"));
	}
	g_ptr_array_add(a, g_strdup("-smp"));
	g_ptr_array_add(a, g_strdup_printf("%u", smp));
	g_ptr_array_add(a, g_strdup("-accel"));
	g_ptr_array_add(a, g_strdup(accel));
	g_ptr_array_add(a, g_strdup("-qmp"));
	g_ptr_array_add(a, g_strdup_printf("unix:%s,server,nowait", v->qmp_path));
	g_ptr_array_add(a, g_strdup("-monitor"));
	g_ptr_array_add(a, g_strdup_printf("unix:%s,server,nowait", v->hmp_path));
	g_ptr_array_add(a, g_strdup("-serial"));
	g_ptr_array_add(a, g_strdup_printf("file:%s", serial));
	for (unsigned i = 0; extra && extra[i]; i++)
		g_ptr_array_add(a, g_strdup(extra[i]));
	g_ptr_array_add(a, NULL);
	v->argv = (char **)g_ptr_array_free(a, FALSE);
	v->pid = spawn(v->argv, v->log);
	hv_assert(v->pid > 0, "fork: %s", strerror(errno));
	track(v->pid, true);
	if (connect)
		hv_vm_connect(v);
}

void hv_vm_connect(struct hv_vm *v)
{
	g_autoptr(GError) e = NULL;

	v->qmp = qmp_connect(v->qmp_path, HV_TIMEOUT_MS, &e);
	if (!v->qmp) {
		g_autofree char *log = hv_vm_log(v);
		int st = 0;

		g_usleep(100000);
		if (hv_vm_exited(v, &st))
			hv_fail("relive-vm did not come up (%s); it %s %d; its log:\n%s", e->message,
				WIFSIGNALED(st) ? "was killed by signal" : "exited with status",
				WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st), log);
		hv_fail("relive-vm did not come up (%s); its log:\n%s", e->message, log);
	}
}

char *hv_vm_argv_json(const struct hv_vm *v, const char *const *prefix,
		      const char *const *suffix)
{
	GString *s = g_string_new("[");
	bool first = true;
	const char *const *lists[3] = { prefix, (const char *const *)v->argv, suffix };

	for (int l = 0; l < 3; l++) {
		for (unsigned i = 0; lists[l] && lists[l][i]; i++) {
			g_autofree char *q = g_strescape(lists[l][i], NULL);

			g_string_append_printf(s, "%s\"%s\"", first ? "" : ", ", q);
			first = false;
		}
	}
	g_string_append_c(s, ']');
	return g_string_free(s, FALSE);
}

gboolean hv_vm_exited(struct hv_vm *v, int *status)
{
	int st;
	pid_t r = waitpid(v->pid, &st, WNOHANG);

	if (r == v->pid) {
		track(v->pid, false);
		if (status)
			*status = st;
		v->pid = 0;
		return TRUE;
	}
	return FALSE;
}

void hv_vm_stop(struct hv_vm *v)
{
	if (v->pid > 0) {
		if (v->qmp)
			qmp_send(v->qmp, "quit", NULL, NULL);
		for (int i = 0; i < 200 && !hv_vm_exited(v, NULL); i++)
			g_usleep(10000);
		if (v->pid > 0) {
			kill(v->pid, SIGKILL);
			waitpid(v->pid, NULL, 0);
			track(v->pid, false);
			v->pid = 0;
		}
	}
	if (v->qmp)
		qmp_close(v->qmp);
	v->qmp = NULL;
	g_strfreev(v->argv);
	g_free(v->qmp_path);
	g_free(v->hmp_path);
	g_free(v->log);
	memset(v, 0, sizeof(*v));
}

char *hv_vm_log(const struct hv_vm *v)
{
	char *s = NULL;

	if (!g_file_get_contents(v->log, &s, NULL, NULL))
		s = g_strdup("(no log)");
	return s;
}

JsonNode *hv_qmp(struct hv_vm *v, const char *cmd, const char *args)
{
	g_autoptr(GError) e = NULL;
	JsonNode *r = qmp_execute(v->qmp, cmd, args, HV_TIMEOUT_MS, &e);

	if (!r) {
		g_autofree char *log = hv_vm_log(v);

		hv_fail("QMP %s %s: %s\nVM log:\n%s", cmd, args ? args : "", e->message, log);
	}
	return r;
}

char *hv_qmp_error(struct hv_vm *v, const char *cmd, const char *args)
{
	g_autoptr(GError) e = NULL;
	JsonNode *r = qmp_execute(v->qmp, cmd, args, HV_TIMEOUT_MS, &e);

	hv_assert(!r, "QMP %s %s succeeded, expected an error", cmd, args ? args : "");
	return g_strdup(e->message);
}

char *hv_status(struct hv_vm *v)
{
	g_autoptr(JsonNode) r = hv_qmp(v, "query-status", NULL);

	return g_strdup(json_object_get_string_member(json_node_get_object(r), "status"));
}

void hv_wait_event(struct hv_vm *v, const char *name)
{
	g_autoptr(GError) e = NULL;

	if (!qmp_wait_event(v->qmp, name, HV_TIMEOUT_MS, &e)) {
		g_autofree char *log = hv_vm_log(v);

		hv_fail("waiting for event %s: %s\nVM log:\n%s", name, e->message, log);
	}
}

JsonNode *hv_wait_migration(struct hv_vm *v, const char *status)
{
	for (int i = 0; i < HV_TIMEOUT_MS / 20; i++) {
		JsonNode *r = hv_qmp(v, "query-migrate", NULL);
		JsonObject *o = json_node_get_object(r);

		if (json_object_has_member(o, "status") &&
		    !strcmp(json_object_get_string_member(o, "status"), status))
			return r;
		json_node_unref(r);
		g_usleep(20000);
	}
	hv_fail("query-migrate never reached status %s", status);
}

struct hv_hmp {
	int fd;
	GString *in;
};

static char *hmp_read_prompt(struct hv_hmp *h)
{
	char buf[4096];
	char *p;

	while (!(p = strstr(h->in->str, "(qemu) "))) {
		ssize_t n = read(h->fd, buf, sizeof(buf));

		if (n <= 0)
			hv_fail("HMP: connection closed while waiting for the prompt (got '%s')",
				h->in->str);
		g_string_append_len(h->in, buf, n);
	}
	{
		char *out = g_strndup(h->in->str, p - h->in->str);

		g_string_erase(h->in, 0, p - h->in->str + 7);
		return out;
	}
}

struct hv_hmp *hv_hmp_connect(const char *path)
{
	struct hv_hmp *h = g_new0(struct hv_hmp, 1);
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	struct timeval tv = { HV_TIMEOUT_MS / 1000, 0 };

	g_strlcpy(a.sun_path, path, sizeof(a.sun_path));
	h->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	hv_assert(h->fd >= 0 && connect(h->fd, (void *)&a, sizeof(a)) == 0,
		  "HMP: connect %s: %s", path, strerror(errno));
	setsockopt(h->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	h->in = g_string_new(NULL);
	g_free(hmp_read_prompt(h)); /* the banner */
	return h;
}

char *hv_hmp(struct hv_hmp *h, const char *line)
{
	g_autofree char *l = g_strconcat(line, "\n", NULL);
	char *out, *nl;

	hv_assert(write(h->fd, l, strlen(l)) == (ssize_t)strlen(l), "HMP: write: %s",
		  strerror(errno));
	out = hmp_read_prompt(h);
	/*
	 * A monitor adopted across an update may greet again with its banner
	 * and prompt; the command's output follows that.
	 */
	if (g_str_has_prefix(out, "QEMU ") && strstr(out, "monitor - type 'help'") &&
	    !strchr(strchr(out, '\n') + 1, '\n')) {
		g_free(out);
		out = hmp_read_prompt(h);
	}
	/* QEMU's monitor echoes nothing on a socket, but drop a line that repeats the command */
	nl = strstr(out, "\n");
	if (nl && !strncmp(out, line, strlen(line))) {
		char *rest = g_strdup(nl + 1);

		g_free(out);
		out = rest;
	}
	return out;
}

void hv_hmp_close(struct hv_hmp *h)
{
	close(h->fd);
	g_string_free(h->in, TRUE);
	g_free(h);
}

void *hv_map_ram(pid_t pid, const char *block, uint64_t size)
{
	g_autofree char *dir = g_strdup_printf("/proc/%d/fd", (int)pid);
	g_autofree char *want = g_strdup_printf("/memfd:%s (deleted)", block);
	DIR *d = opendir(dir);
	struct dirent *e;
	void *p = NULL;

	if (!d)
		return NULL;
	while ((e = readdir(d)) && !p) {
		g_autofree char *path = g_build_filename(dir, e->d_name, NULL);
		g_autofree char *link = g_file_read_link(path, NULL);
		int fd;

		if (!link || strcmp(link, want))
			continue;
		fd = open(path, O_RDWR | O_CLOEXEC);
		if (fd < 0)
			continue;
		p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (p == MAP_FAILED)
			p = NULL;
		close(fd);
	}
	closedir(d);
	return p;
}

uint64_t hv_heartbeat(const void *ram, unsigned vcpu)
{
	return __atomic_load_n((const uint64_t *)((const char *)ram + 0x1000 + 64 * vcpu),
			       __ATOMIC_ACQUIRE);
}

gboolean hv_heartbeats_advance(const void *ram, unsigned n,
			       const uint64_t *before, int timeout_ms)
{
	for (int t = 0; t < timeout_ms; t++) {
		unsigned ok = 0;

		for (unsigned i = 0; i < n; i++)
			ok += hv_heartbeat(ram, i) > before[i];
		if (ok == n)
			return TRUE;
		g_usleep(1000);
	}
	return FALSE;
}

static uint64_t pat(uint64_t seed, uint64_t i)
{
	uint64_t x = seed + i * 0x9e3779b97f4a7c15ull;

	x ^= x >> 31;
	x *= 0xbf58476d1ce4e5b9ull;
	return x ^ (x >> 29);
}

void hv_pattern_fill(void *p, uint64_t len, uint64_t seed)
{
	uint64_t *w = p;

	for (uint64_t i = 0; i < len / 8; i++)
		w[i] = pat(seed, i);
}

uint64_t hv_pattern_check(const void *p, uint64_t len, uint64_t seed)
{
	const uint64_t *w = p;

	for (uint64_t i = 0; i < len / 8; i++)
		if (w[i] != pat(seed, i))
			return i * 8;
	return len;
}
