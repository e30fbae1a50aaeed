// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Loading relive-vm-monitors.so (monitors.h): where it is looked for and the
 * checks that it was built with this binary.
 */
#include <dlfcn.h>
#include <string.h>
#include <unistd.h>

#include "failpoint.h"
#include "machine/machine.h"
#include "monitors/monitors.h"
#include "relive/version.h"
#include "vm-error.h"

const struct vm_monitors_ops *monitors;

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

gboolean monitors_load(GError **errp)
{
	g_autofree char *path = NULL;
	const struct vm_monitors_ops *ops;
	void *h;

	if (monitors)
		return TRUE;
	path = module_path();
	/* RTLD_NOW: a symbol this binary does not export fails here, not on first use. */
	h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		vm_error(errp, "monitors module: %s", dlerror());
		return FALSE;
	}
	ops = RL_FAILPOINT("vm.monitors.load") ? NULL : dlsym(h, VM_MONITORS_SYMBOL);
	if (!ops) {
		vm_error(errp, "monitors module %s: no %s: not built with relive-vm", path,
			 VM_MONITORS_SYMBOL);
	} else if (ops->abi != VM_MONITORS_ABI || strcmp(ops->version, RELIVE_VERSION) ||
		   ops->machine_size != sizeof(struct machine)) {
		vm_error(errp, "monitors module %s was built for relive-vm %s, this is %s: install the two together",
			 path, ops->version, RELIVE_VERSION);
	} else {
		monitors = ops;
		return TRUE;
	}
	dlclose(h);
	return FALSE;
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
