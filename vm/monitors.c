// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Loading relive-vm-monitors.so (monitors.h): where it is looked for, the
 * thread that loads it, and the checks that it was built with this binary.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "machine.h"
#include "monitors.h"
#include "relive/version.h"
#include "vm-error.h"

const struct vm_monitors_ops *monitors;

static struct {
	pthread_t thread;
	bool started, waited;
	const struct vm_monitors_ops *ops;
	char *error;		/* why it did not load */
} load;

/* Next to the binary (the build tree, a relocated install), else where it was installed. */
static char *module_path(void)
{
	g_autofree char *exe = g_file_read_link("/proc/self/exe", NULL);

	if (exe) {
		g_autofree char *dir = g_path_get_dirname(exe);
		char *p = g_build_filename(dir, VM_MONITORS_FILE, NULL);

		if (access(p, F_OK) == 0)
			return p;
		g_free(p);
	}
	return g_build_filename(RELIVE_VM_MODULE_DIR, VM_MONITORS_FILE, NULL);
}

static void *load_module(void *opaque)
{
	g_autofree char *path = module_path();
	const struct vm_monitors_ops *ops;
	void *h;

	(void)opaque;
	/* RTLD_NOW: a symbol this binary does not export fails here, not on first use. */
	h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		load.error = g_strdup_printf("monitors module: %s", dlerror());
		return NULL;
	}
	ops = dlsym(h, VM_MONITORS_SYMBOL);
	if (!ops) {
		load.error = g_strdup_printf("monitors module %s: no %s: not built with relive-vm", path,
					     VM_MONITORS_SYMBOL);
	} else if (ops->abi != VM_MONITORS_ABI || strcmp(ops->version, RELIVE_VERSION) ||
		   ops->machine_size != sizeof(struct machine)) {
		load.error = g_strdup_printf("monitors module %s was built for relive-vm %s, this is %s: install the two together",
					     path, ops->version, RELIVE_VERSION);
	} else {
		load.ops = ops;
		return NULL;
	}
	dlclose(h);
	return NULL;
}

void monitors_load_start(void)
{
	if (load.started || load.waited)
		return;
	load.started = pthread_create(&load.thread, NULL, load_module, NULL) == 0;
}

gboolean monitors_load_wait(GError **errp)
{
	if (!load.waited) {
		if (load.started)
			pthread_join(load.thread, NULL);
		else
			load_module(NULL);
		load.waited = true;
		monitors = load.ops;
	}
	if (!monitors) {
		vm_error(errp, "%s", load.error);
		return FALSE;
	}
	return TRUE;
}

void monitors_event(const char *name)
{
	if (monitors)
		monitors->event(name, NULL);
}

void monitors_event_migration(const char *status)
{
	if (monitors)
		monitors->event("MIGRATION", status);
}
