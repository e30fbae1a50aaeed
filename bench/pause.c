// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * relive-bench pause: starts a VMM per scenario, lets the observer watch the
 * guest's heartbeats from outside, triggers the update over QMP N times and
 * keeps, per update, the guest-visible pause and the VMM's own breakdown.
 * The update flows per mode (cpr-exec, cpr-transfer, cpr-reboot, normal)
 * follow QEMU's documented usage, so the same code drives QEMU.
 */
#include "pause.h"
#include "firmware.h"
#include "qmp-client.h"
#include "vmm.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

struct run_ctx {
	const struct pause_opts *o;
	struct scenario *sc;
	struct vmm_env env;
	struct vmm cur;
	struct observer *obs;
	unsigned gen;		/* alternates the QMP socket of a second process */
	uint64_t timeout_ms;
};

const char *mode_name(enum update_mode m)
{
	static const char *const names[] = { "normal", "cpr-reboot", "cpr-transfer", "cpr-exec" };

	return names[m];
}

const char *backing_name(enum backing b)
{
	static const char *const names[] = { "memfd", "hugetlb", "file", "private" };

	return names[b];
}

const char *vmm_name(enum vmm_kind v)
{
	return v == VMM_QEMU ? "qemu" : "relive";
}

char *size_name(uint64_t bytes)
{
	if (bytes && !(bytes % (1ull << 30)))
		return g_strdup_printf("%" G_GUINT64_FORMAT "G", bytes >> 30);
	if (bytes && !(bytes % (1ull << 20)))
		return g_strdup_printf("%" G_GUINT64_FORMAT "M", bytes >> 20);
	if (bytes && !(bytes % (1ull << 10)))
		return g_strdup_printf("%" G_GUINT64_FORMAT "K", bytes >> 10);
	return g_strdup_printf("%" G_GUINT64_FORMAT, bytes);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

double samples_pause_quantile(const struct scenario *sc, double q)
{
	guint n = sc->samples->len;
	g_autofree uint64_t *v = NULL;
	double pos;
	guint lo;

	if (!n)
		return NAN;
	v = g_new(uint64_t, n);
	for (guint i = 0; i < n; i++)
		v[i] = g_array_index(sc->samples, struct sample, i).pause_ns;
	qsort(v, n, sizeof(*v), cmp_u64);
	pos = q * (n - 1);
	lo = (guint)pos;
	if (lo + 1 >= n)
		return v[n - 1] / 1e6;
	return (v[lo] + (pos - lo) * ((double)v[lo + 1] - v[lo])) / 1e6;
}

/* ------------------------------------------------------------ options */

static gboolean parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);

	switch (*end) {
	case 'k': case 'K': v <<= 10; end++; break;
	case 'm': case 'M': v <<= 20; end++; break;
	case 'g': case 'G': v <<= 30; end++; break;
	case 0: break;
	default: return FALSE;
	}
	if ((*end == 'i' || *end == 'B') && end[1] == 'B')
		end += 2;
	else if (*end == 'B')
		end++;
	if (*end || end == s)
		return FALSE;
	*out = v;
	return TRUE;
}

static int lookup(const char *what, const char *s, const char *const *names, int n,
		  GError **errp)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(s, names[i]))
			return i;
	g_autofree char *all = g_strjoinv(", ", (char **)names);

	g_set_error(errp, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
		    "--%s: unknown value '%s' (one of: %s)", what, s, all);
	return -1;
}

static gboolean default_accel_kvm(void)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return FALSE;
	close(fd);
	return TRUE;
}

static char *sibling_binary(const char *rel)
{
	g_autofree char *self = g_file_read_link("/proc/self/exe", NULL);
	g_autofree char *dir = NULL;

	if (!self)
		return g_strdup(rel);
	dir = g_path_get_dirname(self);
	return g_build_filename(dir, "..", rel, NULL);
}

/* Huge pages the kernel can hand out right now, in bytes. */
static uint64_t hugetlb_free(void)
{
	g_autofree char *s = NULL;
	unsigned long long free_pages = 0, kb = 2048;
	char *p;

	if (!g_file_get_contents("/proc/meminfo", &s, NULL, NULL))
		return 0;
	if ((p = strstr(s, "HugePages_Free:")))
		sscanf(p, "HugePages_Free: %llu", &free_pages);
	if ((p = strstr(s, "Hugepagesize:")))
		sscanf(p, "Hugepagesize: %llu", &kb);
	return free_pages * kb * 1024;
}

/* Why @sc cannot run on this host, or NULL. */
static char *precheck(const struct pause_opts *o, const struct scenario *sc)
{
	if (sc->populate > 0 && sc->populate < 1)
		return g_strdup("--populate between 0 and 1 needs a guest that writes its RAM; "
				"only 0 (cold) and 1 (prealloc=on) are wired");
	if (sc->backing == BACK_HUGETLB && hugetlb_free() < sc->ram)
		return g_strdup_printf("needs %" G_GUINT64_FORMAT " free 2 MiB huge pages "
				       "(echo N > /proc/sys/vm/nr_hugepages); %" G_GUINT64_FORMAT
				       " free", sc->ram >> 21, hugetlb_free() >> 21);
	if (sc->backing == BACK_FILE) {
		struct statvfs sv;

		if (!statvfs("/dev/shm", &sv) && (uint64_t)sv.f_bavail * sv.f_frsize < sc->ram)
			return g_strdup("not enough free space in /dev/shm");
	}
	if (sc->vmm == VMM_RELIVE && access(o->vm_path, X_OK))
		return g_strdup_printf("%s: %s (build relive-vm or give --vm)", o->vm_path,
				       g_strerror(errno));
	if (sc->exec == EXEC_TRAMPOLINE && sc->mode == MODE_CPR_EXEC &&
	    access(o->trampoline_path, X_OK))
		return g_strdup_printf("%s: %s (build relive-trampoline or use --exec direct)",
				       o->trampoline_path, g_strerror(errno));
	return NULL;
}

/* ------------------------------------------------------------ one update */

static char *params_json(const char *mode, char **cmd, const char *writer)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	g_autoptr(JsonGenerator) g = json_generator_new();
	g_autoptr(JsonNode) root = NULL;

	json_builder_begin_object(b);
	json_builder_set_member_name(b, "mode");
	json_builder_add_string_value(b, mode);
	if (cmd) {
		json_builder_set_member_name(b, "cpr-exec-command");
		json_builder_begin_array(b);
		for (; *cmd; cmd++)
			json_builder_add_string_value(b, *cmd);
		json_builder_end_array(b);
	}
	if (writer) {
		json_builder_set_member_name(b, "x-state-writer");
		json_builder_add_string_value(b, writer);
	}
	json_builder_end_object(b);
	root = json_builder_get_root(b);
	json_generator_set_root(g, root);
	return json_generator_to_data(g, NULL);
}

static gboolean qmp_ok(struct qmp_client *c, const char *cmd, const char *args, int ms,
		       GError **errp)
{
	g_autoptr(JsonNode) r = qmp_execute(c, cmd, args, ms, errp);

	return r != NULL;
}

static char *query_status(struct qmp_client *c, int ms, GError **errp)
{
	g_autoptr(JsonNode) r = qmp_execute(c, "query-status", NULL, ms, errp);
	JsonObject *o;

	if (!r)
		return NULL;
	o = json_node_get_object(r);
	if (!o || !json_object_has_member(o, "status"))
		return g_strdup("?");
	return g_strdup(json_object_get_string_member(o, "status"));
}

/* Polls query-status until "running". */
static gboolean wait_running(struct qmp_client *c, uint64_t deadline, GError **errp)
{
	for (;;) {
		int ms = (int)((deadline - MIN(deadline, bench_now_ns())) / 1000000) + 1;
		g_autofree char *st = query_status(c, ms, errp);

		if (!st)
			return FALSE;
		if (!strcmp(st, "running"))
			return TRUE;
		if (bench_now_ns() > deadline) {
			g_set_error(errp, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
				    "the VM is still '%s' and not running", st);
			return FALSE;
		}
		g_usleep(500);
	}
}

static int ms_left(uint64_t deadline)
{
	uint64_t now = bench_now_ns();

	return now >= deadline ? 1 : (int)((deadline - now) / 1000000) + 1;
}

/*
 * After a migrate that replaces the process in place: the VM has stopped
 * once STOP arrived or query-status stopped saying running, and is back when
 * RESUME arrives or query-status says running again. A VMM that does not
 * keep its monitors across the exec closes the connection: then the new
 * process is asked on a new connection.
 */
static gboolean wait_exec_resume(struct run_ctx *c, uint64_t deadline, GError **errp)
{
	gboolean stopped = FALSE;
	GError *err = NULL;

	while (bench_now_ns() < deadline) {
		g_autofree char *st = NULL;

		if (qmp_wait_event(c->cur.qmp, stopped ? "RESUME" : "STOP", 10, &err)) {
			if (stopped)
				return TRUE;
			stopped = TRUE;
			continue;
		}
		if (!g_error_matches(err, G_IO_ERROR, G_IO_ERROR_TIMED_OUT))
			break;
		g_clear_error(&err);
		st = query_status(c->cur.qmp, ms_left(deadline), &err);
		if (!st)
			break;
		if (strcmp(st, "running"))
			stopped = TRUE;
		else if (stopped)
			return TRUE;
	}
	if (!err) {
		g_set_error(errp, G_IO_ERROR, G_IO_ERROR_TIMED_OUT, "the VM did not %s in time",
			    stopped ? "resume" : "stop");
		return FALSE;
	}
	if (!g_error_matches(err, G_IO_ERROR, G_IO_ERROR_CLOSED)) {
		g_propagate_error(errp, err);
		return FALSE;
	}
	g_clear_error(&err);
	qmp_close(c->cur.qmp);
	c->cur.qmp = NULL;
	/* The new process creates its socket again at the same path. */
	for (;;) {
		c->cur.qmp = qmp_connect(c->cur.qmp_path, ms_left(deadline), &err);
		if (c->cur.qmp) {
			if (wait_running(c->cur.qmp, deadline, &err))
				return TRUE;
			qmp_close(c->cur.qmp);
			c->cur.qmp = NULL;
		}
		if (bench_now_ns() > deadline) {
			g_propagate_prefixed_error(errp, err, "after the exec: ");
			return FALSE;
		}
		g_clear_error(&err);
		g_usleep(1000);
	}
}

static gboolean migration_not_failed(struct qmp_client *q, GError **errp)
{
	g_autoptr(JsonNode) r = qmp_execute(q, "query-migrate", NULL, 5000, errp);
	JsonObject *o;
	const char *st;

	if (!r)
		return FALSE;
	o = json_node_get_object(r);
	st = o && json_object_has_member(o, "status") ?
		json_object_get_string_member(o, "status") : "";
	if (!strcmp(st, "failed") || !strcmp(st, "cancelled")) {
		g_set_error(errp, G_IO_ERROR, G_IO_ERROR_FAILED, "migration %s: %s", st,
			    json_object_has_member(o, "error-desc") ?
			    json_object_get_string_member(o, "error-desc") : "no reason given");
		return FALSE;
	}
	return TRUE;
}

static gboolean wait_migration_done(struct qmp_client *q, uint64_t deadline, GError **errp)
{
	for (;;) {
		g_autoptr(JsonNode) r = qmp_execute(q, "query-migrate", NULL, ms_left(deadline), errp);
		JsonObject *o;
		const char *st;

		if (!r)
			return FALSE;
		o = json_node_get_object(r);
		st = o && json_object_has_member(o, "status") ?
			json_object_get_string_member(o, "status") : "";
		if (!strcmp(st, "completed"))
			return TRUE;
		if (!strcmp(st, "failed") || !strcmp(st, "cancelled")) {
			const char *why = json_object_has_member(o, "error-desc") ?
				json_object_get_string_member(o, "error-desc") : st;

			g_set_error(errp, G_IO_ERROR, G_IO_ERROR_FAILED, "migration %s", why);
			return FALSE;
		}
		if (bench_now_ns() > deadline) {
			g_set_error(errp, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
				    "migration still '%s'", st);
			return FALSE;
		}
		g_usleep(500);
	}
}

static void collect_breakdown(struct qmp_client *q, struct sample *s)
{
	g_autoptr(JsonNode) r = NULL;
	JsonObject *o;

	if (!q || !(r = qmp_execute(q, "query-migrate", NULL, 5000, NULL)))
		return;
	o = json_node_get_object(r);
	if (!o)
		return;
	if (json_object_has_member(o, "total-downtime"))
		s->downtime_ms = (double)json_object_get_int_member(o, "total-downtime");
	else if (json_object_has_member(o, "downtime"))
		s->downtime_ms = (double)json_object_get_int_member(o, "downtime");
	if (json_object_has_member(o, "relive-pause")) {
		JsonNode *n = json_object_get_member(o, "relive-pause");

		if (JSON_NODE_HOLDS_OBJECT(n))
			s->breakdown = json_object_ref(json_node_get_object(n));
	}
}

static char **incoming_file(char *const *argv, const char *state)
{
	g_autofree char *uri = g_strdup_printf("file:%s", state);
	const char *extra[] = { "-incoming", uri, NULL };

	return vmm_argv_append(argv, extra);
}

/* Starts a VMM process from @argv and connects its QMP socket. */
static gboolean start_vmm(struct run_ctx *c, struct vmm *v, char **argv, GError **errp)
{
	uint64_t deadline = bench_now_ns() + c->timeout_ms * 1000000ull;
	GError *err = NULL;

	if (c->o->verbose) {
		g_autofree char *line = g_strjoinv(" ", argv);

		fprintf(stderr, "\n+ %s\n", line);
	}
	v->pid = vmm_spawn(argv, c->env.log_path, errp);
	if (v->pid < 0)
		return FALSE;
	for (;;) {
		g_autofree char *why = NULL;

		v->qmp = qmp_connect(v->qmp_path, 200, &err);
		if (v->qmp)
			return TRUE;
		if (vmm_exited(v->pid, &why)) {
			g_autofree char *tail = vmm_log_tail(c->env.log_path);

			v->pid = -1;
			g_set_error(errp, G_IO_ERROR, G_IO_ERROR_FAILED, "%s %s: %s",
				    vmm_name(c->sc->vmm), why, tail);
			g_clear_error(&err);
			return FALSE;
		}
		if (bench_now_ns() > deadline) {
			g_propagate_error(errp, err);
			return FALSE;
		}
		g_clear_error(&err);
	}
}

static char *qmp_path_for(struct run_ctx *c, unsigned gen)
{
	return g_strdup_printf("%s/qmp-%u.sock", c->env.dir, gen & 1);
}

static gboolean update_cpr_exec(struct run_ctx *c, struct sample *s, gboolean *unsupported,
				GError **errp)
{
	uint64_t deadline;
	g_auto(GStrv) base = vmm_command(c->o, c->sc, &c->env, c->cur.qmp_path);
	g_auto(GStrv) cmd = NULL;
	g_autofree char *params = NULL;
	g_autofree char *uri = g_strdup_printf("{\"uri\": \"file:%s\"}", c->env.state_path);

	if (c->sc->exec == EXEC_TRAMPOLINE) {
		g_auto(GStrv) inc = incoming_file(base, c->env.state_path);
		GPtrArray *a = g_ptr_array_new();

		g_ptr_array_add(a, g_strdup(c->o->trampoline_path));
		g_ptr_array_add(a, g_strdup("--"));
		for (char **p = inc; *p; p++)
			g_ptr_array_add(a, g_strdup(*p));
		g_ptr_array_add(a, NULL);
		cmd = (char **)g_ptr_array_free(a, FALSE);
	} else {
		cmd = incoming_file(base, c->env.state_path);
	}
	params = params_json("cpr-exec", cmd, c->sc->writer);
	if (!qmp_ok(c->cur.qmp, "migrate-set-parameters", params, 5000, errp)) {
		*unsupported = TRUE;
		return FALSE;
	}
	unlink(c->env.state_path);
	qmp_events_clear(c->cur.qmp);
	if (!observer_arm(c->obs, errp))
		return FALSE;
	deadline = bench_now_ns() + c->timeout_ms * 1000000ull;
	if (!qmp_ok(c->cur.qmp, "migrate", uri, 5000, errp)) {
		*unsupported = TRUE;
		return FALSE;
	}
	if (!wait_exec_resume(c, deadline, errp))
		return FALSE;
	/* A failed cpr-exec resumes the old process: that is no update. */
	if (!migration_not_failed(c->cur.qmp, errp)) {
		*unsupported = TRUE;
		return FALSE;
	}
	return TRUE;
}

static gboolean update_cpr_transfer(struct run_ctx *c, struct sample *s,
				    gboolean *unsupported, GError **errp)
{
	struct vmm nv = { .pid = -1, .qmp_path = qmp_path_for(c, c->gen + 1) };
	g_autofree char *main_path = g_strdup_printf("%s/main.sock", c->env.dir);
	g_autofree char *main_uri = g_strdup_printf("unix:%s", main_path);
	g_autofree char *cpr_in = g_strdup_printf(
		"{\"channel-type\": \"cpr\", \"addr\": {\"transport\": \"socket\", "
		"\"type\": \"unix\", \"path\": \"%s\"}}", c->env.cpr_path);
	g_autofree char *chans = g_strdup_printf(
		"{\"channels\": [{\"channel-type\": \"main\", \"addr\": {\"transport\": \"socket\", "
		"\"type\": \"unix\", \"path\": \"%s\"}}, {\"channel-type\": \"cpr\", \"addr\": "
		"{\"transport\": \"socket\", \"type\": \"unix\", \"path\": \"%s\"}}]}",
		main_path, c->env.cpr_path);
	const char *extra[] = { "-incoming", main_uri, "-incoming", cpr_in, NULL };
	g_auto(GStrv) base = vmm_command(c->o, c->sc, &c->env, nv.qmp_path);
	g_auto(GStrv) argv = vmm_argv_append(base, extra);
	g_autofree char *params = params_json("cpr-transfer", NULL, c->sc->writer);
	uint64_t deadline = bench_now_ns() + c->timeout_ms * 1000000ull;
	GError *err = NULL;

	if (!qmp_ok(c->cur.qmp, "migrate-set-parameters", params, 5000, errp)) {
		*unsupported = TRUE;
		g_free(nv.qmp_path);
		return FALSE;
	}
	unlink(c->env.cpr_path);
	unlink(main_path);
	unlink(nv.qmp_path);
	if (c->o->verbose) {
		g_autofree char *line = g_strjoinv(" ", argv);

		fprintf(stderr, "\n+ %s\n", line);
	}
	nv.pid = vmm_spawn(argv, c->env.log_path, errp);
	if (nv.pid < 0)
		goto fail;
	/* New QEMU listens on the cpr channel before anything else. */
	while (access(c->env.cpr_path, F_OK)) {
		g_autofree char *why = NULL;

		if (vmm_exited(nv.pid, &why)) {
			g_autofree char *tail = vmm_log_tail(c->env.log_path);

			nv.pid = -1;
			g_set_error(errp, G_IO_ERROR, G_IO_ERROR_FAILED,
				    "the incoming %s %s: %s", vmm_name(c->sc->vmm), why, tail);
			*unsupported = TRUE;
			goto fail;
		}
		if (bench_now_ns() > deadline) {
			g_set_error(errp, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
				    "the incoming VMM never listened on %s", c->env.cpr_path);
			goto fail;
		}
		g_usleep(1000);
	}
	qmp_events_clear(c->cur.qmp);
	if (!observer_arm(c->obs, errp))
		goto fail;
	if (!qmp_ok(c->cur.qmp, "migrate", chans, 5000, errp)) {
		*unsupported = TRUE;
		goto fail;
	}
	for (;;) {
		nv.qmp = qmp_connect(nv.qmp_path, ms_left(deadline), &err);
		if (nv.qmp && wait_running(nv.qmp, deadline, &err))
			break;
		if (bench_now_ns() > deadline) {
			g_propagate_prefixed_error(errp, err, "incoming VMM: ");
			goto fail;
		}
		qmp_close(nv.qmp);
		nv.qmp = NULL;
		g_clear_error(&err);
		g_usleep(1000);
	}
	/* The incoming side knows the whole pause; the old one only its half. */
	collect_breakdown(nv.qmp, s);
	if (!s->breakdown)
		collect_breakdown(c->cur.qmp, s);
	vmm_stop(&c->cur, 5000);
	g_free(c->cur.qmp_path);
	c->cur = nv;
	c->gen++;
	return TRUE;
fail:
	vmm_stop(&nv, 2000);
	g_free(nv.qmp_path);
	return FALSE;
}

/* normal and cpr-reboot: the old process saves and quits, a new one loads. */
static gboolean update_restart(struct run_ctx *c, struct sample *s, gboolean *unsupported,
			       GError **errp)
{
	g_autofree char *params = params_json(mode_name(c->sc->mode), NULL, c->sc->writer);
	g_autofree char *uri = g_strdup_printf("{\"uri\": \"file:%s\"}", c->env.state_path);
	g_auto(GStrv) base = vmm_command(c->o, c->sc, &c->env, c->cur.qmp_path);
	g_auto(GStrv) argv = incoming_file(base, c->env.state_path);
	uint64_t deadline = bench_now_ns() + c->timeout_ms * 1000000ull;
	struct vmm nv = { .pid = -1 };

	if (!qmp_ok(c->cur.qmp, "migrate-set-parameters", params, 5000, errp)) {
		*unsupported = TRUE;
		return FALSE;
	}
	if (c->sc->mode == MODE_CPR_REBOOT && c->sc->backing != BACK_PRIVATE &&
	    !qmp_ok(c->cur.qmp, "migrate-set-capabilities",
		    "{\"capabilities\": [{\"capability\": \"x-ignore-shared\", \"state\": true}]}",
		    5000, errp)) {
		*unsupported = TRUE;
		return FALSE;
	}
	unlink(c->env.state_path);
	if (!observer_arm(c->obs, errp))
		return FALSE;
	if (!qmp_ok(c->cur.qmp, "migrate", uri, 5000, errp)) {
		*unsupported = TRUE;
		return FALSE;
	}
	if (!wait_migration_done(c->cur.qmp, deadline, errp))
		return FALSE;
	collect_breakdown(c->cur.qmp, s);
	nv.qmp_path = g_strdup(c->cur.qmp_path);
	vmm_stop(&c->cur, 5000);
	g_free(c->cur.qmp_path);
	c->cur.qmp_path = NULL;
	if (!start_vmm(c, &nv, argv, errp)) {
		g_free(nv.qmp_path);
		return FALSE;
	}
	c->cur = nv;
	/* A new process has new RAM unless it maps the same file. */
	if (c->sc->backing != BACK_FILE &&
	    !observer_attach(c->obs, c->cur.pid, ms_left(deadline), errp))
		return FALSE;
	return wait_running(c->cur.qmp, deadline, errp);
}

static gboolean update_once(struct run_ctx *c, struct sample *s, gboolean *unsupported,
			    GError **errp)
{
	struct obs_result res;
	uint64_t resumed;
	gboolean ok;
	struct stat st;

	memset(s, 0, sizeof(*s));
	s->downtime_ms = -1;
	switch (c->sc->mode) {
	case MODE_CPR_EXEC:
		ok = update_cpr_exec(c, s, unsupported, errp);
		break;
	case MODE_CPR_TRANSFER:
		ok = update_cpr_transfer(c, s, unsupported, errp);
		break;
	default:
		ok = update_restart(c, s, unsupported, errp);
		break;
	}
	if (!ok)
		return FALSE;
	resumed = bench_now_ns();
	if (!observer_finish(c->obs, resumed, 10000, &res, errp))
		return FALSE;
	s->pause_ns = res.pause_ns;
	for (unsigned i = 0; i < res.vcpus; i++) {
		s->stall_ns[i] = res.v[i].stall_ns;
		s->rate_before += res.v[i].rate_before;
		s->rate_after += res.v[i].rate_after;
	}
	if (c->sc->mode == MODE_CPR_EXEC)
		collect_breakdown(c->cur.qmp, s);
	if (c->sc->mode != MODE_CPR_TRANSFER && !stat(c->env.state_path, &st))
		s->state_bytes = (uint64_t)st.st_size;
	return TRUE;
}

/* ------------------------------------------------------------ one scenario */

/* The scenario running, for the signal handler. */
static struct run_ctx *volatile active;

/*
 * Interrupted: the VMM and the observer are our children and would outlive
 * us, with the RAM file in /dev/shm. Only async-signal-safe calls here.
 */
static void on_signal(int sig)
{
	struct run_ctx *c = active;

	if (c) {
		if (c->cur.pid > 0)
			kill(c->cur.pid, SIGKILL);
		if (observer_pid(c->obs) > 0)
			kill(observer_pid(c->obs), SIGKILL);
		if (c->env.ram_path)
			unlink(c->env.ram_path);
		if (c->env.state_path)
			unlink(c->env.state_path);
		if (c->env.fw_path)
			unlink(c->env.fw_path);
		if (c->env.cpr_path)
			unlink(c->env.cpr_path);
	}
	_exit(128 + sig);
}

static void env_free(struct vmm_env *e)
{
	if (e->ram_path)
		unlink(e->ram_path);
	if (e->state_path)
		unlink(e->state_path);
	if (e->cpr_path)
		unlink(e->cpr_path);
	if (e->fw_path)
		unlink(e->fw_path);
	if (e->dir) {
		g_autofree char *m = g_strdup_printf("%s/main.sock", e->dir);
		g_autofree char *q0 = g_strdup_printf("%s/qmp-0.sock", e->dir);
		g_autofree char *q1 = g_strdup_printf("%s/qmp-1.sock", e->dir);

		unlink(m);
		unlink(q0);
		unlink(q1);
		rmdir(e->dir);
	}
	g_free(e->dir);
	g_free(e->ram_path);
	g_free(e->state_path);
	g_free(e->cpr_path);
	g_free(e->fw_path);
	g_free(e->log_path);
}

static char *scenario_label(const struct scenario *sc)
{
	g_autofree char *ram = size_name(sc->ram);
	g_autofree char *blob = size_name(sc->blob);

	return g_strdup_printf("%s %s %s %s x%u blob %s %s%s%s", vmm_name(sc->vmm),
			       mode_name(sc->mode), backing_name(sc->backing), ram, sc->vcpus,
			       blob, sc->populate >= 1 ? "warm" : "cold",
			       sc->mode == MODE_CPR_EXEC ? (sc->exec == EXEC_TRAMPOLINE ?
							    " trampoline" : " direct") : "",
			       "");
}

static void run_scenario(const struct pause_opts *o, struct scenario *sc, unsigned idx,
			 unsigned total)
{
	struct run_ctx c = { .o = o, .sc = sc, .cur = { .pid = -1 } };
	struct obs_config oc = { 0 };
	g_autofree char *label = scenario_label(sc);
	g_auto(GStrv) argv = NULL;
	GError *err = NULL;
	char tmpl[] = "/tmp/relive-bench-XXXXXX";

	c.timeout_ms = o->timeout_ms + 10000ull * (sc->ram >> 30);
	if ((sc->skipped = precheck(o, sc))) {
		fprintf(stderr, "\r\033[K[%u/%u] %s: skipped: %s\n", idx, total, label, sc->skipped);
		return;
	}
	if (!mkdtemp(tmpl)) {
		sc->skipped = g_strdup_printf("mkdtemp: %s", g_strerror(errno));
		return;
	}
	c.env.dir = g_strdup(tmpl);
	c.env.state_path = g_strdup_printf("%s/vm.state", tmpl);
	c.env.cpr_path = g_strdup_printf("%s/cpr.sock", tmpl);
	c.env.log_path = g_strdup_printf("%s/vm-%u.log", o->out_dir, idx);
	unlink(c.env.log_path);
	if (sc->backing == BACK_FILE)
		c.env.ram_path = g_strdup_printf("/dev/shm/relive-bench-%d-ram", (int)getpid());
	if (sc->vmm == VMM_QEMU) {
		c.env.fw_path = g_strdup_printf("%s/heartbeat.bin", tmpl);
		if (!firmware_write(c.env.fw_path, &err))
			goto out;
	}

	c.cur.qmp_path = qmp_path_for(&c, 0);
	active = &c;
	argv = vmm_command(o, sc, &c.env, c.cur.qmp_path);
	if (!start_vmm(&c, &c.cur, argv, &err)) {
		sc->skipped = g_strdup_printf("not supported by this %s: %s",
					      sc->vmm == VMM_QEMU ? "QEMU" : "relive-vm",
					      err->message);
		g_clear_error(&err);
		goto out;
	}
	oc.source = sc->backing == BACK_FILE ? OBS_SRC_PATH :
		sc->backing == BACK_PRIVATE ? OBS_SRC_PROCMEM : OBS_SRC_MEMFD;
	if (c.env.ram_path)
		g_strlcpy(oc.path, c.env.ram_path, sizeof(oc.path));
	oc.ram_size = sc->ram;
	/* QEMU runs the bench's firmware on the boot vCPU only. */
	oc.vcpus = sc->vmm == VMM_QEMU ? 1 : sc->vcpus;
	oc.cpu = o->observer_cpu;
	oc.rate_window_ms = o->rate_window_ms;
	oc.sleep_us = o->observer_sleep_us;
	c.obs = observer_start(&oc, &err);
	if (!c.obs || !observer_attach(c.obs, c.cur.pid, 30000, &err))
		goto out;
	/* History for the rate before the first stop. */
	g_usleep(o->rate_window_ms * 1000ull + 50000);

	for (unsigned r = 0; r < o->runs; r++) {
		struct sample s;
		gboolean unsupported = FALSE;

		fprintf(stderr, "\r\033[K[%u/%u] %s: update %u/%u", idx, total, label, r + 1,
			o->runs);
		if (!update_once(&c, &s, &unsupported, &err)) {
			if (unsupported && r == 0) {
				sc->skipped = g_strdup_printf("not supported by this %s: %s",
							      sc->vmm == VMM_QEMU ? "QEMU" :
							      "relive-vm", err->message);
				g_clear_error(&err);
			}
			break;
		}
		g_array_append_val(sc->samples, s);
		fprintf(stderr, " %.2f ms", s.pause_ns / 1e6);
		if (o->verbose)
			fprintf(stderr, "\n");
	}
out:
	if (err) {
		g_autofree char *tail = vmm_log_tail(c.env.log_path);

		sc->note = g_strdup_printf("stopped after %u updates: %s (log: %s)",
					   sc->samples->len, err->message, c.env.log_path);
		g_clear_error(&err);
	}
	if (sc->samples->len)
		fprintf(stderr, "\r\033[K[%u/%u] %s: median %.2f ms\n", idx, total, label,
			samples_pause_quantile(sc, 0.5));
	else
		fprintf(stderr, "\r\033[K[%u/%u] %s: %s\n", idx, total, label,
			sc->skipped ? sc->skipped : sc->note ? sc->note : "no sample");
	active = NULL;
	vmm_stop(&c.cur, 5000);
	g_free(c.cur.qmp_path);
	observer_stop(c.obs);
	env_free(&c.env);
}

/* ------------------------------------------------------------ main */

static gboolean split_list(const char *s, const char *def, char ***out)
{
	*out = g_strsplit(s ? s : def, ",", -1);
	return TRUE;
}

int bench_pause_main(int argc, char **argv)
{
	static const char *const mode_names[] = { "normal", "cpr-reboot", "cpr-transfer",
						  "cpr-exec", NULL };
	static const char *const backing_names[] = { "memfd", "hugetlb", "file", "private", NULL };
	static const char *const exec_names[] = { "trampoline", "direct", NULL };
	static const char *const writer_names[] = { "io_uring", "fallback", NULL };
	g_autofree char *modes = NULL, *rams = NULL, *vcpus = NULL, *blobs = NULL;
	g_autofree char *backings = NULL, *execs = NULL, *writers = NULL;
	g_autofree char *fw_out = NULL;
	g_autofree char *vm = NULL, *tramp = NULL, *qemu = NULL, *out = NULL, *accel = NULL;
	gboolean warm = FALSE, cold = FALSE, quick = FALSE, verbose = FALSE;
	g_autofree char *populate = NULL;
	int observer_sleep = -1;
	int runs = 0, observer_cpu = -1, rate_window = -1, timeout_s = 60;
	GOptionEntry entries[] = {
		{ "mode", 0, 0, G_OPTION_ARG_STRING, &modes,
		  "Update modes, comma-separated: cpr-exec,cpr-transfer,cpr-reboot,normal (cpr-exec)", "LIST" },
		{ "ram", 0, 0, G_OPTION_ARG_STRING, &rams,
		  "Guest RAM sizes, 256M to 16G (256M,1G,4G)", "LIST" },
		{ "vcpus", 0, 0, G_OPTION_ARG_STRING, &vcpus, "vCPU counts, 1 to 8 (1)", "LIST" },
		{ "blob", 0, 0, G_OPTION_ARG_STRING, &blobs,
		  "state-blob device sizes, 0 to 256M (0)", "LIST" },
		{ "backing", 0, 0, G_OPTION_ARG_STRING, &backings,
		  "RAM backings: memfd,hugetlb,file,private (memfd)", "LIST" },
		{ "exec", 0, 0, G_OPTION_ARG_STRING, &execs,
		  "cpr-exec through: trampoline,direct (trampoline)", "LIST" },
		{ "writer", 0, 0, G_OPTION_ARG_STRING, &writers,
		  "State writer: io_uring,fallback (the VMM's default)", "LIST" },
		{ "warm", 0, 0, G_OPTION_ARG_NONE, &warm,
		  "Populate all guest RAM before measuring (prealloc=on; the default)", NULL },
		{ "cold", 0, 0, G_OPTION_ARG_NONE, &cold,
		  "Populate nothing: no prealloc, page tables empty", NULL },
		{ "populate", 0, 0, G_OPTION_ARG_STRING, &populate,
		  "Fractions of guest RAM populated before measuring: 1 warm, 0 cold (1)", "LIST" },
		{ "runs", 'n', 0, G_OPTION_ARG_INT, &runs, "Updates per scenario (20)", "N" },
		{ "quick", 0, 0, G_OPTION_ARG_NONE, &quick,
		  "A small matrix that runs in well under a minute", NULL },
		{ "compare-qemu", 0, 0, G_OPTION_ARG_FILENAME, &qemu,
		  "Also run the CPR scenarios on this QEMU 10.2+ binary", "PATH" },
		{ "out", 'o', 0, G_OPTION_ARG_FILENAME, &out,
		  "Results directory (bench-results)", "DIR" },
		{ "accel", 0, 0, G_OPTION_ARG_STRING, &accel,
		  "kvm or thread (kvm where /dev/kvm opens)", "ACCEL" },
		{ "vm", 0, 0, G_OPTION_ARG_FILENAME, &vm, "relive-vm binary", "PATH" },
		{ "trampoline", 0, 0, G_OPTION_ARG_FILENAME, &tramp,
		  "relive-trampoline binary", "PATH" },
		{ "observer-cpu", 0, 0, G_OPTION_ARG_INT, &observer_cpu,
		  "Pin the observer to this CPU (not pinned)", "N" },
		{ "observer-sleep", 0, 0, G_OPTION_ARG_INT, &observer_sleep,
		  "Sleep between two reads of the heartbeats, µs (0: a tight loop; the default with 4 CPUs or more, else 50)", "US" },
		{ "rate-window", 0, 0, G_OPTION_ARG_INT, &rate_window,
		  "Heartbeat rate window before the stop and after the resume, ms (1000)", "MS" },
		{ "timeout", 0, 0, G_OPTION_ARG_INT, &timeout_s,
		  "Seconds one update may take, plus 10 per GiB of RAM (60)", "S" },
		{ "write-firmware", 0, 0, G_OPTION_ARG_FILENAME, &fw_out,
		  "Write the heartbeat firmware image given to QEMU and exit", "PATH" },
		{ "verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose,
		  "Print every command line and every sample", NULL },
		{ NULL }
	};
	g_autoptr(GOptionContext) ctx = g_option_context_new("- guest-visible pause of an update");
	struct pause_opts o = { 0 };
	g_auto(GStrv) lf = NULL;
	g_auto(GStrv) lm = NULL, lr = NULL, lv = NULL, lb = NULL, lk = NULL, le = NULL, lw = NULL;
	g_autofree char *args = g_strjoinv(" ", argv + 1);
	g_autofree char *cmdline = g_strdup_printf("relive-bench pause %s", args);
	GError *err = NULL;
	unsigned idx = 0;
	int status = 0;

	g_option_context_add_main_entries(ctx, entries, NULL);
	g_option_context_set_description(ctx,
		"Starts relive-vm per scenario, watches the guest's heartbeats from a separate\n"
		"process, updates the VMM N times over QMP and prints the pause: median, p90,\n"
		"max, with the VMM's own breakdown. See docs/bench.md.");
	if (!g_option_context_parse(ctx, &argc, &argv, &err)) {
		fprintf(stderr, "relive-bench pause: %s\n", err->message);
		g_error_free(err);
		return 2;
	}
	if (fw_out) {
		if (!firmware_write(fw_out, &err)) {
			fprintf(stderr, "relive-bench pause: %s\n", err->message);
			g_error_free(err);
			return 1;
		}
		return 0;
	}
	if (warm + cold + !!populate > 1) {
		fprintf(stderr, "relive-bench pause: give one of --warm, --cold, --populate\n");
		return 2;
	}
	if (cold)
		populate = g_strdup("0");
	if (!populate)
		populate = g_strdup("1");
	if (quick) {
		if (!rams)
			rams = g_strdup("256M,1G");
		if (!runs)
			runs = 5;
		if (rate_window < 0)
			rate_window = 200;
	}
	o.runs = runs > 0 ? (unsigned)runs : 20;
	o.rate_window_ms = rate_window >= 0 ? (unsigned)rate_window : 1000;
	o.timeout_ms = (unsigned)timeout_s * 1000u;
	o.observer_cpu = observer_cpu;
	/*
	 * A tight loop takes a whole core: where the host has no core to spare
	 * beyond the vCPUs and the VMM's main thread, it would steal one from
	 * the VMM and measure itself. Poll every 50 µs there instead.
	 */
	if (observer_sleep < 0)
		observer_sleep = sysconf(_SC_NPROCESSORS_ONLN) >= 4 ? 0 : 50;
	o.observer_sleep_us = (unsigned)observer_sleep;
	o.verbose = verbose;
	o.vm_path = vm ? vm : (vm = sibling_binary("vm/relive-vm"));
	o.trampoline_path = tramp ? tramp : (tramp = sibling_binary("trampoline/relive-trampoline"));
	o.out_dir = out ? out : "bench-results";
	o.accel = accel ? accel : default_accel_kvm() ? "kvm" : "thread";
	o.command_line = cmdline;
	if (strcmp(o.accel, "kvm") && strcmp(o.accel, "thread")) {
		fprintf(stderr, "relive-bench pause: --accel: kvm or thread, not '%s'\n", o.accel);
		return 2;
	}
	if (qemu && access(qemu, X_OK)) {
		fprintf(stderr, "relive-bench pause: --compare-qemu %s: %s; "
			"running without the QEMU comparison\n", qemu, g_strerror(errno));
		qemu = NULL;
	}
	o.qemu_path = qemu;
	if (g_mkdir_with_parents(o.out_dir, 0755)) {
		fprintf(stderr, "relive-bench pause: %s: %s\n", o.out_dir, g_strerror(errno));
		return 1;
	}

	split_list(modes, "cpr-exec", &lm);
	split_list(rams, "256M,1G,4G", &lr);
	split_list(vcpus, "1", &lv);
	split_list(blobs, "0", &lb);
	split_list(backings, "memfd", &lk);
	split_list(execs, "trampoline", &le);
	split_list(populate, NULL, &lf);
	/* An empty name: the VMM's default writer. */
	if (writers) {
		split_list(writers, NULL, &lw);
	} else {
		lw = g_new0(char *, 2);
		lw[0] = g_strdup("");
	}
	o.scenarios = g_ptr_array_new();

	for (int vmm = 0; vmm < (o.qemu_path ? 2 : 1); vmm++)
	for (char **m = lm; *m; m++)
	for (char **k = lk; *k; k++)
	for (char **r = lr; *r; r++)
	for (char **v = lv; *v; v++)
	for (char **b = lb; *b; b++)
	for (char **e = le; *e; e++)
	for (char **w = lw; *w; w++)
	for (char **f = lf; *f; f++) {
		struct scenario *sc = g_new0(struct scenario, 1);
		int mi = lookup("mode", *m, mode_names, 4, &err);
		int ki = mi < 0 ? -1 : lookup("backing", *k, backing_names, 4, &err);
		int ei = ki < 0 ? -1 : lookup("exec", *e, exec_names, 2, &err);
		int wi = (ei < 0 || !**w) ? 0 : lookup("writer", *w, writer_names, 2, &err);
		char *end;

		g_ptr_array_add(o.scenarios, sc);
		if (mi < 0 || ki < 0 || ei < 0 || wi < 0)
			goto bad;
		sc->vmm = vmm ? VMM_QEMU : VMM_RELIVE;
		sc->mode = (enum update_mode)mi;
		sc->backing = (enum backing)ki;
		sc->exec = (enum exec_via)ei;
		sc->writer = **w ? writer_names[wi] : NULL;
		sc->populate = g_ascii_strtod(*f, &end);
		if (*end || end == *f || !(sc->populate >= 0 && sc->populate <= 1)) {
			g_set_error(&err, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
				    "--populate: '%s' is not a fraction from 0 to 1", *f);
			goto bad;
		}
		sc->samples = g_array_new(FALSE, TRUE, sizeof(struct sample));
		if (!parse_size(*r, &sc->ram) || sc->ram < (64ull << 20) || sc->ram > (16ull << 30)) {
			g_set_error(&err, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
				    "--ram: '%s' is not a size from 64M to 16G", *r);
			goto bad;
		}
		sc->vcpus = (unsigned)strtoul(*v, &end, 10);
		if (*end || sc->vcpus < 1 || sc->vcpus > 8) {
			g_set_error(&err, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
				    "--vcpus: '%s' is not a count from 1 to 8", *v);
			goto bad;
		}
		if (!parse_size(*b, &sc->blob) || sc->blob > (256ull << 20)) {
			g_set_error(&err, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
				    "--blob: '%s' is not a size from 0 to 256M", *b);
			goto bad;
		}
		if (sc->vmm == VMM_QEMU) {
			/*
			 * QEMU runs the CPR modes on a /dev/shm file; it has no
			 * state-blob device and no writer choice: one scenario each.
			 */
			if ((sc->mode != MODE_CPR_EXEC && sc->mode != MODE_CPR_TRANSFER) ||
			    k != lk || b != lb || w != lw) {
				g_ptr_array_remove(o.scenarios, sc);
				g_array_free(sc->samples, TRUE);
				g_free(sc);
				continue;
			}
			sc->backing = BACK_FILE;
			sc->blob = 0;
			sc->writer = NULL;
		}
		if (sc->mode != MODE_CPR_EXEC && e != le) {
			/* --exec only matters to cpr-exec. */
			g_ptr_array_remove(o.scenarios, sc);
			g_array_free(sc->samples, TRUE);
			g_free(sc);
			continue;
		}
		continue;
bad:
		fprintf(stderr, "relive-bench pause: %s\n", err->message);
		g_error_free(err);
		return 2;
	}

	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);
	for (guint i = 0; i < o.scenarios->len; i++) {
		struct scenario *sc = g_ptr_array_index(o.scenarios, i);

		run_scenario(&o, sc, ++idx, o.scenarios->len);
	}

	report_table(stdout, &o);
	{
		g_autofree char *json = g_build_filename(o.out_dir, "pause.json", NULL);

		if (!report_json(&o, json, &err)) {
			fprintf(stderr, "relive-bench pause: %s\n", err->message);
			g_clear_error(&err);
			status = 1;
		} else {
			printf("\nsamples: %s\n", json);
		}
		if (report_plot(&o, o.out_dir, &err)) {
			printf("plot: %s/pause.svg\n", o.out_dir);
		} else {
			printf("plot: %s\n", err->message);
			g_clear_error(&err);
		}
	}
	for (guint i = 0; i < o.scenarios->len; i++) {
		struct scenario *sc = g_ptr_array_index(o.scenarios, i);

		if (!sc->samples->len && !sc->skipped)
			status = 1;
	}
	return status;
}
