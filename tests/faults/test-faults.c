// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Every failpoint of relive-vm in one update mode, on the old process's side
 * and on the new one's. The failpoints come from the binary
 * (RELIVE_FAILPOINTS=list); a traced update tells which ones an update in
 * this mode passes, and on which side. Each is then made to fail, once, and
 * the guest must run on (old or new binary, same PID for cpr-exec) with its
 * RAM and heartbeat, query-migrate must say why when it failed, and neither
 * a descriptor nor a temporary file may be left. Usage:
 * test-faults cpr-exec|cpr-transfer|cpr-reboot|normal [FAILPOINT...]
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define RAM_MIB 128
#define PATTERN_OFF (64ull << 20)
#define PATTERN_LEN (32ull << 20)
#define SEED 0xfa17
#define FP_ENV "RELIVE_FAILPOINTS"

static const char *mode;
static unsigned tried, updated, kept, lost, defects;

enum side { OLD, NEW };
static const char *const side_name[] = { "old", "new" };

/* A failure to report: the run goes on, the test fails at the end. */
static GString *why;
#define note(...) g_string_append_printf(why, __VA_ARGS__)

/* ------------------------------------------------------------- helpers */

static char **lines_of(const char *cmd_out)
{
	return g_strsplit(cmd_out ? cmd_out : "", "\n", -1);
}

/* Every failpoint of relive-vm, from the binary itself. */
static char **failpoint_list(void)
{
	g_autofree char *out = NULL;
	g_autofree char *cmd = g_strdup_printf("env %s=list %s", FP_ENV, hv_vm_binary());
	int st;

	if (!g_spawn_command_line_sync(cmd, &out, NULL, &st, NULL) || !g_spawn_check_wait_status(st, NULL))
		hv_fail("%s: cannot list the failpoints (built without -Dfault_injection=true?)",
			hv_vm_binary());
	g_strstrip(out);
	return lines_of(out);
}

static struct qmp_client *connect_qmp(const char *path)
{
	g_autoptr(GError) e = NULL;

	return qmp_connect(path, HV_TIMEOUT_MS, &e);
}

static char *qmp_member(struct qmp_client *c, const char *cmd, const char *member)
{
	g_autoptr(GError) e = NULL;
	g_autoptr(JsonNode) r = c ? qmp_execute(c, cmd, NULL, HV_TIMEOUT_MS, &e) : NULL;

	if (!r || !JSON_NODE_HOLDS_OBJECT(r))
		return NULL;
	return g_strdup(json_object_get_string_member_with_default(json_node_get_object(r),
								   member, ""));
}

/*
 * migrate itself: TRUE when accepted; a refusal is a failed update too
 * (@st "failed", @desc the error), which must come with a message.
 */
static bool migrate(struct qmp_client *c, const char *args, char **st, char **desc)
{
	g_autoptr(GError) e = NULL;
	g_autoptr(JsonNode) r = qmp_execute(c, "migrate", args, HV_TIMEOUT_MS, &e);

	if (r)
		return true;
	*st = g_strdup("failed");
	*desc = g_strdup(e ? e->message : "");
	return false;
}

/* query-migrate until it is completed or failed: the status, and in @desc the error. */
static char *wait_outcome(struct qmp_client *c, char **desc)
{
	for (int i = 0; i < HV_TIMEOUT_MS / 20; i++) {
		g_autoptr(GError) e = NULL;
		g_autoptr(JsonNode) r = qmp_execute(c, "query-migrate", NULL, HV_TIMEOUT_MS, &e);
		const char *st;

		if (!r)
			return NULL;
		st = json_object_get_string_member_with_default(json_node_get_object(r), "status", "");
		if (!strcmp(st, "completed") || !strcmp(st, "failed")) {
			*desc = g_strdup(json_object_get_string_member_with_default(
				json_node_get_object(r), "error-desc", ""));
			return g_strdup(st);
		}
		g_usleep(20000);
	}
	return NULL;
}

static bool qmp_ok(struct qmp_client *c, const char *cmd, const char *args)
{
	g_autoptr(GError) e = NULL;
	g_autoptr(JsonNode) r = c ? qmp_execute(c, cmd, args, HV_TIMEOUT_MS, &e) : NULL;

	if (!r)
		note("QMP %s: %s; ", cmd, e ? e->message : "no connection");
	return r != NULL;
}

static gint cmp_str(gconstpointer a, gconstpointer b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* What /proc/@pid/fd points at, sorted: equal lists, no descriptor leaked. */
static char *fd_list(pid_t pid)
{
	g_autofree char *dir = g_strdup_printf("/proc/%d/fd", (int)pid);
	GPtrArray *a = g_ptr_array_new_with_free_func(g_free);
	DIR *d = opendir(dir);
	struct dirent *e;
	GString *s = g_string_new(NULL);

	while (d && (e = readdir(d))) {
		g_autofree char *p = g_build_filename(dir, e->d_name, NULL);
		char *l;

		if (e->d_name[0] == '.')
			continue;
		l = g_file_read_link(p, NULL);
		if (l)
			g_ptr_array_add(a, l);
	}
	if (d)
		closedir(d);
	g_ptr_array_sort(a, cmp_str);
	for (unsigned i = 0; i < a->len; i++)
		g_string_append_printf(s, "%s\n", (char *)a->pdata[i]);
	g_ptr_array_free(a, TRUE);
	return g_string_free(s, FALSE);
}

/*
 * Once a process took part in a cpr-transfer it keeps one more descriptor
 * of its RAM memfd, for the guest's lock (vm/update/transfer.c): @after
 * without it, if it is the only difference. Takes @after.
 */
static char *without_guest_lock(const char *before, char *after)
{
	const char *lock = "/memfd:ram0 (deleted)\n";
	char *p = strstr(after, lock);
	GString *s;

	if (!p || strlen(after) != strlen(before) + strlen(lock))
		return after;
	s = g_string_new_len(after, p - after);
	g_string_append(s, p + strlen(lock));
	g_free(after);
	return g_string_free(s, FALSE);
}

/* Temporary files of the state writer (".NAME.XXXXXXXX.tmp") left behind. */
static bool tmp_left(void)
{
	DIR *d = opendir(hv_tmpdir());
	struct dirent *e;
	bool found = false;

	while (d && (e = readdir(d)))
		if (e->d_name[0] == '.' && g_str_has_suffix(e->d_name, ".tmp")) {
			note("temporary file %s left; ", e->d_name);
			found = true;
		}
	if (d)
		closedir(d);
	return found;
}

static bool alive(pid_t pid)
{
	int st;

	return pid > 0 && waitpid(pid, &st, WNOHANG) == 0;
}

/* The guest runs in @pid: status running, heartbeat advancing, RAM pattern intact. */
static bool guest_runs(pid_t pid, struct qmp_client *c, const void *ram)
{
	g_autofree char *st = NULL;
	uint64_t hb;

	if (!alive(pid)) {
		note("process %d is gone; ", (int)pid);
		return false;
	}
	st = qmp_member(c, "query-status", "status");
	if (g_strcmp0(st, "running")) {
		note("status '%s', not running; ", st ? st : "(no answer)");
		return false;
	}
	hb = hv_heartbeat(ram, 0);
	if (!hv_heartbeats_advance(ram, 1, &hb, 5000)) {
		note("heartbeat stopped at %" G_GUINT64_FORMAT "; ", hb);
		return false;
	}
	if (hv_pattern_check((const char *)ram + PATTERN_OFF, PATTERN_LEN, SEED) != PATTERN_LEN) {
		note("RAM pattern damaged; ");
		return false;
	}
	return true;
}

static void start(struct hv_vm *v, const char *name, const char *env, const char *const *extra)
{
	g_autofree char *q = g_strdup_printf("%sqmp.sock", name ? name : "");
	g_autofree char *qp = hv_path(q);

	unlink(qp); /* left by a process killed in an earlier run */
	if (env)
		setenv(FP_ENV, env, 1);
	hv_vm_start_as(v, name, "thread", RAM_MIB, 1, extra, FALSE);
	unsetenv(FP_ENV);
	/* a process that fails to start is not waited for */
	for (int i = 0; i < HV_TIMEOUT_MS / 10 && access(v->qmp_path, F_OK) && alive(v->pid); i++)
		g_usleep(10000);
	v->qmp = alive(v->pid) ? connect_qmp(v->qmp_path) : NULL;
}

/* Stops @v and removes its log: the next run starts from an empty one. */
static void stop(struct hv_vm *v)
{
	if (v->log)
		unlink(v->log);
	if (v->argv)
		hv_vm_stop(v);
}

static void *map_ram(pid_t pid)
{
	return hv_map_ram(pid, "ram0", (uint64_t)RAM_MIB << 20);
}

static void unmap_ram(void *ram)
{
	if (ram)
		munmap(ram, (uint64_t)RAM_MIB << 20);
}

static size_t log_size(const struct hv_vm *v)
{
	struct stat st;

	return stat(v->log, &st) == 0 ? (size_t)st.st_size : 0;
}

/* ---------------------------------------------------------------- runs */

/*
 * struct run - one update in @mode with RELIVE_FAILPOINTS @env on @side
 * (NULL: none). After it: @outcome (the guest runs on the new binary, on
 * the old one, or is lost), @mark, the old process's log size when the
 * migration began, and @log_old, @log_new, the two logs.
 */
enum outcome { LOST, UPDATED, KEPT };

struct run {
	enum side side;
	enum outcome outcome;	/* set by run() */
	const char *env;
	size_t mark;
	char *log_old;
	char *log_new;
};

/*
 * Return: true when the guest runs at the end, wherever. Defects that do
 * not lose the guest (no message, a leaked fd, a temporary file) are noted.
 */
static bool run_cpr_exec(struct run *r)
{
	g_autofree char *fds0 = NULL, *fds1 = NULL, *st = NULL, *desc = NULL, *cmd = NULL,
			*state = hv_path("vm.state"), *inc = g_strdup_printf("file:%s", state),
			*args = NULL, *uri = g_strdup_printf("{\"uri\": \"file:%s\"}", state);
	const char *pre[] = { hv_trampoline(), "--", NULL };
	const char *suf[] = { "-incoming", inc, NULL };
	g_autofree char *env = r->side == NEW ? g_strdup_printf("next:%s", r->env) : g_strdup(r->env);
	struct hv_vm v;
	bool ok = false;
	pid_t pid;
	void *ram;

	start(&v, NULL, r->env ? env : NULL, NULL);
	pid = v.pid;
	ram = map_ram(pid);
	if (!v.qmp || !ram) {
		note("the VM did not come up; ");
		goto out;
	}
	hv_pattern_fill((char *)ram + PATTERN_OFF, PATTERN_LEN, SEED);
	cmd = hv_vm_argv_json(&v, hv_trampoline() ? pre : NULL, suf);
	args = g_strdup_printf("{\"mode\": \"cpr-exec\", \"cpr-exec-command\": %s}", cmd);
	if (!qmp_ok(v.qmp, "migrate-set-parameters", args))
		goto out;
	fds0 = fd_list(pid);
	r->mark = log_size(&v);
	if (migrate(v.qmp, uri, &st, &desc))
		st = wait_outcome(v.qmp, &desc);
	if (!st) {
		note("query-migrate gave no outcome; ");
		goto out;
	}
	ok = guest_runs(pid, v.qmp, ram);
	if (!strcmp(st, "failed") && !*desc) {
		note("query-migrate failed without error-desc; ");
		defects++;
	}
	g_usleep(100000); /* the holder released, the monitors loaded */
	fds1 = fd_list(pid);
	if (ok && strcmp(fds0, fds1)) {
		note("descriptors before:\n%safter:\n%s", fds0, fds1);
		defects++;
	}
	r->outcome = !ok ? LOST : !strcmp(st, "completed") ? UPDATED : KEPT;
out:
	r->log_old = hv_vm_log(&v);
	r->log_new = g_strdup(r->log_old);
	stop(&v);
	unmap_ram(ram);
	return ok;
}

static bool run_transfer(struct run *r)
{
	g_autofree char *mp = hv_path("main.sock"), *cp = hv_path("cpr.sock");
	g_autofree char *m = g_strdup_printf("unix:%s", mp), *c = g_strdup_printf("cpr:unix:%s", cp);
	g_autofree char *args = g_strdup_printf("{\"channels\": ["
		"{\"channel-type\": \"main\", \"addr\": {\"transport\": \"socket\", \"type\": \"unix\", \"path\": \"%s\"}},"
		"{\"channel-type\": \"cpr\", \"addr\": {\"transport\": \"socket\", \"type\": \"unix\", \"path\": \"%s\"}}]}",
		mp, cp);
	g_autofree char *fds0 = NULL, *fds1 = NULL, *st = NULL, *desc = NULL;
	const char *extra[] = { "-incoming", m, "-incoming", c, NULL };
	struct hv_vm v, nv = { 0 };
	bool ok = false;
	void *ram;

	start(&v, NULL, r->side == OLD ? r->env : NULL, NULL);
	ram = map_ram(v.pid);
	if (!v.qmp || !ram) {
		note("the VM did not come up; ");
		goto out;
	}
	hv_pattern_fill((char *)ram + PATTERN_OFF, PATTERN_LEN, SEED);
	if (r->side == NEW && r->env)
		setenv(FP_ENV, r->env, 1);
	hv_vm_start_as(&nv, "new-", "thread", RAM_MIB, 1, extra, FALSE);
	unsetenv(FP_ENV);
	for (int i = 0; i < 1000 && access(cp, F_OK) && alive(nv.pid); i++)
		g_usleep(10000);
	if (!qmp_ok(v.qmp, "migrate-set-parameters", "{\"mode\": \"cpr-transfer\"}"))
		goto out;
	fds0 = fd_list(v.pid);
	r->mark = log_size(&v);
	if (migrate(v.qmp, args, &st, &desc))
		st = wait_outcome(v.qmp, &desc);
	if (!st) {
		note("query-migrate gave no outcome; ");
		goto out;
	}
	if (!strcmp(st, "completed")) {
		nv.qmp = connect_qmp(nv.qmp_path);
		ok = guest_runs(nv.pid, nv.qmp, ram);
		r->outcome = ok ? UPDATED : LOST;
		goto out;
	}
	if (!*desc) {
		note("query-migrate failed without error-desc; ");
		defects++;
	}
	ok = guest_runs(v.pid, v.qmp, ram);
	fds1 = without_guest_lock(fds0, fd_list(v.pid));
	if (ok && strcmp(fds0, fds1)) {
		note("descriptors before:\n%safter:\n%s", fds0, fds1);
		defects++;
	}
	r->outcome = ok ? KEPT : LOST;
out:
	r->log_old = hv_vm_log(&v);
	r->log_new = nv.argv ? hv_vm_log(&nv) : g_strdup("");
	stop(&nv);
	stop(&v);
	unmap_ram(ram);
	unlink(mp);
	unlink(cp);
	return ok;
}

/*
 * normal and cpr-reboot: save, then a new process loads the file. normal
 * keeps the old process (stopped) until the new one runs, and continues it
 * if the new one fails; cpr-reboot quits it first, as for a host reboot, so
 * the state file is all there is: when the new process fails, a second one
 * without failpoints must load it.
 */
static bool run_file(struct run *r)
{
	bool reboot = !strcmp(mode, "cpr-reboot");
	g_autofree char *state = hv_path("vm.state"), *inc = g_strdup_printf("file:%s", state),
			*uri = g_strdup_printf("{\"uri\": \"file:%s\"}", state),
			*margs = g_strdup_printf("{\"mode\": \"%s\"}", mode),
			*fds0 = NULL, *fds1 = NULL, *st = NULL, *desc = NULL;
	const char *extra[] = { "-incoming", inc, NULL };
	struct hv_vm v, nv = { 0 };
	bool ok = false;
	void *ram, *nram = NULL;

	start(&v, NULL, r->side == OLD ? r->env : NULL, NULL);
	ram = map_ram(v.pid);
	if (!v.qmp || !ram) {
		note("the VM did not come up; ");
		goto out;
	}
	hv_pattern_fill((char *)ram + PATTERN_OFF, PATTERN_LEN, SEED);
	if (!qmp_ok(v.qmp, "migrate-set-parameters", margs))
		goto out;
	fds0 = fd_list(v.pid);
	r->mark = log_size(&v);
	if (migrate(v.qmp, uri, &st, &desc))
		st = wait_outcome(v.qmp, &desc);
	if (!st) {
		note("query-migrate gave no outcome; ");
		goto out;
	}
	if (!strcmp(st, "failed")) {
		if (!*desc) {
			note("query-migrate failed without error-desc; ");
			defects++;
		}
		ok = guest_runs(v.pid, v.qmp, ram);
		fds1 = fd_list(v.pid);
		if (ok && strcmp(fds0, fds1)) {
			note("descriptors before:\n%safter:\n%s", fds0, fds1);
			defects++;
		}
		r->outcome = ok ? KEPT : LOST;
		goto out;
	}
	if (reboot) {
		r->log_old = hv_vm_log(&v);
		stop(&v);
	}
	start(&nv, "new-", r->side == NEW ? r->env : NULL, extra);
	nram = nv.qmp ? map_ram(nv.pid) : NULL;
	if (nram && guest_runs(nv.pid, nv.qmp, nram)) {
		r->outcome = UPDATED;
		ok = true;
		goto out;
	}
	if (r->side == OLD || !r->env) {
		note("the new process does not run the guest; ");
		goto out;
	}
	r->log_new = hv_vm_log(&nv);
	stop(&nv);
	if (reboot) {
		/* the operator's way back: the same file, loaded again */
		start(&nv, "retry-", NULL, extra);
		unmap_ram(nram);
		nram = nv.qmp ? map_ram(nv.pid) : NULL;
		ok = nram && guest_runs(nv.pid, nv.qmp, nram);
	} else {
		ok = qmp_ok(v.qmp, "cont", NULL) && guest_runs(v.pid, v.qmp, ram);
	}
	r->outcome = ok ? KEPT : LOST;
out:
	if (!r->log_old)
		r->log_old = v.argv ? hv_vm_log(&v) : g_strdup("");
	if (!r->log_new)
		r->log_new = nv.argv ? hv_vm_log(&nv) : g_strdup("");
	stop(&nv);
	stop(&v);
	unmap_ram(ram);
	unmap_ram(nram);
	unlink(state);
	return ok;
}

static bool run(struct run *r)
{
	bool ok;

	if (!strcmp(mode, "cpr-exec"))
		ok = run_cpr_exec(r);
	else if (!strcmp(mode, "cpr-transfer"))
		ok = run_transfer(r);
	else
		ok = run_file(r);
	if (tmp_left())
		defects++;
	return ok;
}

/* ------------------------------------------------------------- tracing */

/*
 * The failpoints an update passes on @side, each with the hit to fail
 * (name -> hit): on the old side the first hit after the migration began
 * (earlier ones belong to the start), on the new side the first.
 */
static GHashTable *trace(enum side side)
{
	GHashTable *hits = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	struct run r = { .side = side, .env = "*=trace@1+" };
	unsigned d = defects;
	const char *log;
	g_auto(GStrv) lines = NULL;
	size_t off = 0;

	g_string_truncate(why, 0);
	if (!run(&r))
		hv_fail("%s: the traced update (%s side) lost the guest: %s\nold log:\n%s\nnew log:\n%s",
			mode, side_name[side], why->str, r.log_old, r.log_new);
	log = side == OLD || !strcmp(mode, "cpr-exec") ? r.log_old : r.log_new;
	lines = lines_of(log);
	for (unsigned i = 0; lines[i]; off += strlen(lines[i]) + 1, i++) {
		char name[64];
		unsigned n;

		if (sscanf(lines[i], "relive: failpoint %63s hit %u: trace", name, &n) != 2)
			continue;
		if (side == OLD && off < r.mark)
			continue;
		if (!g_hash_table_contains(hits, name))
			g_hash_table_insert(hits, g_strdup(name), GUINT_TO_POINTER(n));
	}
	if (defects > d)
		hv_fail("%s: the traced update (%s side): %s", mode, side_name[side], why->str);
	if (g_getenv("RELIVE_FAULTS_VERBOSE"))
		printf("traced update, %s side:\n%s", side_name[side], log);
	g_free(r.log_old);
	g_free(r.log_new);
	return hits;
}

int main(int argc, char **argv)
{
	g_auto(GStrv) all = NULL;
	unsigned applies = 0;

	mode = argc > 1 ? argv[1] : "";
	if (strcmp(mode, "cpr-exec") && strcmp(mode, "cpr-transfer") &&
	    strcmp(mode, "cpr-reboot") && strcmp(mode, "normal")) {
		fprintf(stderr, "usage: test-faults cpr-exec|cpr-transfer|cpr-reboot|normal [FAILPOINT...]\n");
		return 2;
	}
	why = g_string_new(NULL);
	all = argc > 2 ? g_strdupv(argv + 2) : failpoint_list();
	for (enum side side = OLD; side <= NEW; side++) {
		g_autoptr(GHashTable) hits = trace(side);

		for (unsigned i = 0; all[i]; i++) {
			gpointer n;
			g_autofree char *env = NULL;
			struct run r = { .side = side };
			bool ok;

			if (!*all[i] || !g_hash_table_lookup_extended(hits, all[i], NULL, &n))
				continue;
			applies++;
			env = g_strdup_printf("%s=EIO@%u", all[i], GPOINTER_TO_UINT(n));
			r.env = env;
			g_string_truncate(why, 0);
			tried++;
			ok = run(&r);
			printf("%-12s %-3s %-28s %s%s%s\n", mode, side_name[side], all[i],
			       ok ? "guest runs" : "GUEST LOST", why->len ? ": " : "", why->str);
			updated += r.outcome == UPDATED;
			kept += r.outcome == KEPT;
			if (!ok) {
				lost++;
				printf("--- old log:\n%s--- new log:\n%s---\n", r.log_old, r.log_new);
			}
			g_free(r.log_old);
			g_free(r.log_new);
			fflush(stdout);
		}
	}
	printf("%s: %u failpoints in the binary, %u (failpoint, side) pairs tried: the update went through %u times, failed with the guest running %u times, guest lost %u times; %u other defects\n",
	       mode, g_strv_length(all), tried, updated, kept, lost, defects);
	hv_cleanup();
	if (!applies)
		hv_fail("no failpoint was passed in mode %s", mode);
	return lost || defects ? 1 : 0;
}
