// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Loading relive-vm-monitors.so (monitors.h): where it is looked for and the
 * checks that it was built with this binary.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "failpoint.h"
#include "monitors/machine-ops.h"
#include "monitors/monitors.h"
#include "relive/version.h"
#include "vm-error.h"

const struct vm_monitors_ops *monitors;
static int module_fd = -1;	/* the file monitors was loaded from */
static const struct vm_machine_ops *machine;	/* what the module gets */
static int rollback_fd = -1;	/* the old binary's module, in a rollback */

void monitors_init(const struct vm_machine_ops *m, int fd)
{
	machine = m;
	rollback_fd = fd;
}

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

int monitors_module_fd(void)
{
	return module_fd;
}

gboolean monitors_load(GError **errp)
{
	g_autofree char *path = NULL, *fd_path = NULL;
	const struct vm_monitors_ops *ops;
	int fd = rollback_fd;
	void *h;

	if (monitors)
		return TRUE;
	rollback_fd = -1; /* whatever happens below, this fd is used or closed */
	if (fd >= 0) {
		/* a rollback: the module this binary loaded before the update */
		path = g_strdup_printf("the old binary's module (fd %d)", fd);
		fcntl(fd, F_SETFD, FD_CLOEXEC);
	} else {
		path = module_path();
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			vm_error(errp, "monitors module: %s: %s", path, g_strerror(errno));
			return FALSE;
		}
	}
	/*
	 * Through the descriptor, which stays open: what is loaded is what an
	 * update hands on for a rollback, even if a newer module is installed
	 * over the path meanwhile. RTLD_NOW: a symbol the module cannot
	 * resolve fails here, not on first use.
	 */
	fd_path = g_strdup_printf("/proc/self/fd/%d", fd);
	h = dlopen(fd_path, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		vm_error(errp, "monitors module: %s: %s", path, dlerror());
		close(fd);
		return FALSE;
	}
	ops = RL_FAILPOINT("vm.monitors.load") ? NULL : dlsym(h, VM_MONITORS_SYMBOL);
	if (!ops) {
		vm_error(errp, "monitors module %s: no %s: not built with relive-vm", path,
			 VM_MONITORS_SYMBOL);
	} else if (ops->abi != VM_MONITORS_ABI || strcmp(ops->version, RELIVE_VERSION)) {
		vm_error(errp, "monitors module %s was built for relive-vm %s, this is %s: install the two together",
			 path, ops->version, RELIVE_VERSION);
	} else {
		ops->attach(machine);
		monitors = ops;
		module_fd = fd;
		return TRUE;
	}
	dlclose(h);
	close(fd);
	return FALSE;
}

void monitors_event(const char *name, const char *status)
{
	if (monitors)
		monitors->event(name, status);
}
