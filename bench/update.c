// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * relive-bench pause, one update: triggers it over QMP, waits until the
 * guest runs again in whichever process now holds it, and asks the
 * observer for the pause it saw. The flows per mode (cpr-exec,
 * cpr-transfer, cpr-reboot, normal) follow QEMU's documented usage, so
 * the same code drives QEMU. Depends downwards only: vmm.c, observer.c,
 * qmp-client.c, scenario.h.
 */
#include "update.h"
#include "qmp-client.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The observer's vCPU results go into a sample as they are. */
G_STATIC_ASSERT(OBS_MAX_VCPUS <= SCENARIO_MAX_VCPUS);

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

gboolean update_start_vmm(struct run_ctx *c, struct vmm *v, char **argv, GError **errp)
{
	uint64_t deadline = bench_now_ns() + c->timeout_ms * 1000000ull;
	GError *err = NULL;

	if (c->o->verbose) {
		g_autofree char *line = g_strjoinv(" ", argv);

		fprintf(stderr, "\n+ %s\n", line);
	}
	v->pid = vmm_spawn(argv, &c->env, errp);
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

char *update_qmp_path(const struct run_ctx *c, unsigned gen)
{
	return g_strdup_printf("%s/qmp-%u.sock", c->env.dir, gen & 1);
}

static gboolean update_cpr_exec(struct run_ctx *c, struct sample *s, gboolean *unsupported,
				GError **errp)
{
	uint64_t deadline;
	g_auto(GStrv) base = vmm_command(c->o, c->sc, &c->env, c->cur.qmp_path,
					 VMM_RAM_TAKEN_OVER);
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
	struct vmm nv = { .pid = -1, .qmp_path = update_qmp_path(c, c->gen + 1) };
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
	g_auto(GStrv) base = vmm_command(c->o, c->sc, &c->env, nv.qmp_path,
					 VMM_RAM_TAKEN_OVER);
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
	nv.pid = vmm_spawn(argv, &c->env, errp);
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
	g_auto(GStrv) base = vmm_command(c->o, c->sc, &c->env, c->cur.qmp_path, VMM_RAM_NEW);
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
	if (!update_start_vmm(c, &nv, argv, errp)) {
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

gboolean update_once(struct run_ctx *c, struct sample *s, gboolean *unsupported,
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
	s->vm_stall_ns = res.vm_stall_ns;
	s->recover_ns = 0;
	for (unsigned i = 0; i < res.vcpus; i++) {
		s->stall_ns[i] = res.v[i].stall_ns;
		s->recover_ns = MAX(s->recover_ns, res.v[i].recover_ns);
		s->rate_before += res.v[i].rate_before;
		s->rate_after += res.v[i].rate_after;
		s->rate_base += res.v[i].rate_base;
	}
	if (c->sc->mode == MODE_CPR_EXEC)
		collect_breakdown(c->cur.qmp, s);
	if (c->sc->mode != MODE_CPR_TRANSFER && !stat(c->env.state_path, &st))
		s->state_bytes = (uint64_t)st.st_size;
	return TRUE;
}
