// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The machine as a whole: its devices, stopping and resuming the vCPUs with
 * QEMU's run states and events, and the machine's state stream: which
 * sections it has, in which order they are written and applied.
 */
#include <errno.h>
#include <string.h>

#include "machine/machine.h"
#include "vm-error.h"

#define MACHINE_SECTION "machine"
#define MACHINE_MAGIC 0x4d564c52u /* "RLVM" */

struct machine_state {
	uint32_t magic;
	uint32_t running;
};

struct machine vm;

static void event(const char *name, const char *status)
{
	if (vm.event)
		vm.event(name, status);
}

gboolean machine_devices_init(bool incoming, GError **errp)
{
	struct rl_stream_config cfg;
	struct rl_error err = { { 0 } };

	serial_init();
	vm.blobs = g_ptr_array_new_with_free_func((GDestroyNotify)state_blob_free);
	vm.device_names = g_ptr_array_new();
	g_ptr_array_add(vm.device_names, (gpointer)MACHINE_SECTION);
	g_ptr_array_add(vm.device_names, (gpointer)SERIAL_NAME);
	for (unsigned i = 0; i < vm.o.blobs->len; i++) {
		struct blob_option *bo = g_ptr_array_index(vm.o.blobs, i);
		struct state_blob *b = state_blob_new(bo->id, bo->size, !incoming, errp);

		if (!b)
			return FALSE;
		b->copy = bo->copy;

		g_ptr_array_add(vm.blobs, b);
		g_ptr_array_add(vm.device_names, b->id);
		g_ptr_array_add(vm.device_names, b->data_name);
		/* the saver and the loader make this check too: refuse now, naming the id */
		machine_stream_config(&cfg);
		if (rl_stream_config_check(&cfg, &err) < 0) {
			vm_error(errp, "-device state-blob,id=%s: the id does not fit the state stream: %s (ids of at most %d characters, other than 'machine' and '%s', each once)",
				 bo->id, err.msg, RL_SECTION_NAME_MAX - 1 - (int)strlen("/data"),
				 SERIAL_NAME);
			return FALSE;
		}
	}
	return TRUE;
}

void machine_set_run(enum rl_run_state to)
{
	(void)rl_run_state_set(&vm.run, to);
	if (vm.run != to) /* a jump the state machine has no edge for */
		vm.run = to;
}

void machine_pause(enum rl_run_state to)
{
	bool was = rl_run_state_is_running(vm.run);

	cpus_pause(&vm.cpus);
	machine_set_run(to);
	if (was)
		event("STOP", NULL);
}

gboolean machine_vcpu_failed(gpointer opaque)
{
	if (vm.run != RL_RUN_INTERNAL_ERROR)
		machine_pause(RL_RUN_INTERNAL_ERROR);
	return G_SOURCE_REMOVE;
}

void machine_resume(void)
{
	machine_set_run(RL_RUN_RUNNING);
	cpus_resume(&vm.cpus);
	event("RESUME", NULL);
}

void machine_set_status(enum rl_mig_status to)
{
	if (rl_mig_status_set(&vm.status, to) < 0)
		vm.status = to;
	event("MIGRATION", rl_mig_status_name(to));
}

void machine_stream_config(struct rl_stream_config *cfg)
{
	cfg->nr_vcpus = vm.cpus.nr;
	cfg->ram = &vm.mem.reg;
	cfg->devices = (const char *const *)vm.device_names->pdata;
	cfg->nr_devices = vm.device_names->len;
}

int machine_save(struct rl_stream_saver *s, GError **errp)
{
	struct rl_stream_config cfg;
	struct machine_state ms = { MACHINE_MAGIC, 0 };
	size_t n = cpus_state_size(&vm.cpus);
	int ret;

	machine_stream_config(&cfg);
	ret = rl_stream_save_config(s, &cfg);
	if (ret)
		goto err;
	for (unsigned i = 0; i < vm.cpus.nr; i++) {
		char name[RL_SECTION_NAME_MAX];
		void *p;

		g_snprintf(name, sizeof(name), "cpu/%u", i);
		ret = rl_stream_save_section_begin(s, RL_SECTION_CPU, name);
		if (!ret)
			ret = rl_stream_save_reserve(s, n, &p);
		if (ret)
			goto err;
		if (!cpus_save(&vm.cpus, i, p, errp))
			return -EIO;
		ret = rl_stream_save_advance(s, n);
		if (!ret)
			ret = rl_stream_save_section_end(s);
		if (ret)
			goto err;
	}
	/* the run state the VM had before the migration stopped it */
	ms.running = vm.save_running;
	ret = rl_stream_save_section_begin(s, RL_SECTION_DEVICE, MACHINE_SECTION);
	if (!ret)
		ret = rl_stream_save_put(s, &ms, sizeof(ms));
	if (!ret)
		ret = rl_stream_save_section_end(s);
	if (ret)
		goto err;
	serial_flush();
	ret = serial_save(s, errp);
	if (ret)
		return ret;
	for (unsigned i = 0; i < vm.blobs->len; i++) {
		struct state_blob *b = g_ptr_array_index(vm.blobs, i);

		ret = state_blob_save(b, s);
		if (ret == -EBADMSG) {
			vm_error(errp, "state-blob %s: its bytes failed their check after the last update: not saved",
				 b->id);
			return ret;
		}
		if (ret) {
			vm_error(errp, "writing the state of state-blob %s: %s", b->id, g_strerror(-ret));
			return ret;
		}
	}
	ret = rl_stream_save_ram(s, &vm.mem.reg);
	if (ret)
		goto err;
	return 0;
err:
	vm_error(errp, "writing the state: %s", g_strerror(-ret));
	return ret;
}

/*
 * A configuration mismatch in the words of the command line: the option
 * that differs ("-smp: 2 in vm.state, 4 here"), then what the stream says.
 */
static void config_hint(struct rl_error *err)
{
	static const struct { const char *what, *option; } map[] = {
		{ "vCPU count: ", "-smp: " },
		{ "RAM block ", "-object memory-backend-*,id=" },
		{ "device count: ", "-device count: " },
		{ "device ", "-device " },
	};
	g_autofree char *file = NULL;
	const char *rest;
	char *sep = strstr(err->msg, ": ");

	if (!sep)
		return;
	file = g_strndup(err->msg, sep - err->msg);
	rest = sep + 2;
	for (unsigned i = 0; i < G_N_ELEMENTS(map); i++) {
		if (g_str_has_prefix(rest, map[i].what)) {
			g_autofree char *what = g_strndup(map[i].what, strcspn(map[i].what, ":"));
			g_autofree char *m = g_strdup_printf("%s%s (%s: %s)", map[i].option,
							     rest + strlen(map[i].what), file,
							     g_strstrip(what));

			g_strlcpy(err->msg, m, sizeof(err->msg));
			return;
		}
	}
}

static struct rl_stream_loader *loaded;

void machine_load_release(void)
{
	rl_stream_load_close(loaded);
	loaded = NULL;
	for (unsigned i = 0; i < vm.blobs->len; i++)
		state_blob_check_start(g_ptr_array_index(vm.blobs, i));
}

gboolean machine_load(const char *path, const struct rl_update_id *id,
		      bool *was_running, GError **errp)
{
	struct rl_stream_loader *l = NULL;
	struct rl_stream_config cfg;
	struct rl_error err = { { 0 } };
	const struct machine_state *ms;
	const void *p;
	size_t len;
	int ret;

	machine_stream_config(&cfg);
	ret = rl_stream_load_open(&l, path, NULL, &err);
	if (!ret && id)
		ret = rl_stream_load_check_update(l, id, &err);
	if (!ret) {
		ret = rl_stream_load_check_config(l, &cfg, &err);
		if (ret)
			config_hint(&err);
	}
	if (!ret)
		ret = rl_stream_load_verify(l, &err);
	if (ret) {
		vm_error(errp, "%s", err.msg[0] ? err.msg : g_strerror(-ret));
		goto fail;
	}
	ret = rl_stream_load_device(l, MACHINE_SECTION, &p, &len);
	ms = p;
	if (ret || len != sizeof(*ms) || ms->magic != MACHINE_MAGIC) {
		vm_error(errp, "%s: section '%s': not a relive-vm machine section", path,
			 MACHINE_SECTION);
		goto fail;
	}
	*was_running = ms->running;
	for (unsigned i = 0; i < vm.cpus.nr; i++) {
		ret = rl_stream_load_cpu(l, i, &p, &len);
		if (ret) {
			vm_error(errp, "%s: section 'cpu/%u': %s", path, i, g_strerror(-ret));
			goto fail;
		}
		if (!cpus_load(&vm.cpus, i, p, len, errp)) {
			g_prefix_error(errp, "%s: section 'cpu/%u': ", path, i);
			goto fail;
		}
	}
	if (!serial_load(l, errp))
		goto prefix;
	for (unsigned i = 0; i < vm.blobs->len; i++)
		if (!state_blob_load(g_ptr_array_index(vm.blobs, i), l, vm.preserved_fd, NULL,
				     errp))
			goto prefix;
	ret = rl_stream_load_ram(l, &vm.mem.reg, &err);
	if (ret) {
		vm_error(errp, "%s", err.msg[0] ? err.msg : g_strerror(-ret));
		goto fail;
	}
	/* freeing the loader (buffers, io ring) waits until the guest runs */
	loaded = l;
	return TRUE;
prefix:
	g_prefix_error(errp, "%s: ", path);
fail:
	rl_stream_load_close(l);
	return FALSE;
}
