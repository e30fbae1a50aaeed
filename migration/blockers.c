// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The checks made before the VM stops: anything that would make a migration
 * in the chosen mode fail or lose guest state is refused here, with a message
 * naming the object and what to change, while the VM keeps running.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../io/error-internal.h"
#include "relive/migrate.h"
#include "relive/stream.h"

static int check_caps(const struct rl_mig_params *p, struct rl_error *err)
{
	static const struct {
		enum rl_mig_cap cap;
		const char *what; /* QEMU's word for it */
	} conflicts[] = {
		{ RL_CAP_POSTCOPY_RAM, "postcopy" },
		{ RL_CAP_BACKGROUND_SNAPSHOT, "background snapshot" },
		{ RL_CAP_X_COLO, "COLO" },
	};

	if (!rl_mig_mode_is_cpr(p->mode))
		return 0;
	for (size_t i = 0; i < sizeof(conflicts) / sizeof(conflicts[0]); i++) {
		if (!p->caps[conflicts[i].cap])
			continue;
		rl_err_set(err, "Cannot use %s with CPR (mode %s): migrate_set_capability %s off",
			   conflicts[i].what, rl_mig_mode_name(p->mode),
			   rl_mig_cap_name(conflicts[i].cap));
		return -EINVAL;
	}
	return 0;
}

static int check_uri(const struct rl_mig_params *p, const char *uri,
		     struct rl_error *err)
{
	struct rl_mig_uri u;
	int ret;

	ret = rl_mig_uri_parse(uri, &u, err);
	if (ret < 0)
		return ret;
	switch (u.kind) {
	case RL_URI_FILE:
		return 0;
	case RL_URI_UNIX:
		if (p->mode != RL_MODE_CPR_EXEC)
			return 0;
		rl_err_set(err, "cpr-exec needs a file: URI, not '%s': the old and the new process never run at the same time, so nothing can stream between them",
			   uri);
		return -EINVAL;
	default:
		rl_err_set(err, "migration URI '%s' is not supported (use file:PATH%s)",
			   uri, p->mode == RL_MODE_CPR_EXEC ? "" : " or unix:PATH");
		return -EINVAL;
	}
}

/* 0 if @path is an executable regular file, else -ENOENT or -EACCES. */
static int executable(const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return errno == EACCES ? -EACCES : -ENOENT;
	if (!S_ISREG(st.st_mode) || access(path, X_OK) < 0)
		return -EACCES;
	return 0;
}

static int check_command(const struct rl_mig_params *p, struct rl_error *err)
{
	const char *cmd, *path, *dir;
	char buf[4096];
	int found = -ENOENT;

	if (p->mode != RL_MODE_CPR_EXEC)
		return 0;
	if (!p->cpr_exec_command || !p->cpr_exec_command[0] ||
	    !p->cpr_exec_command[0][0]) {
		rl_err_set(err, "Parameter 'cpr-exec-command' required for cpr-exec (migrate_set_parameter cpr-exec-command NEW-BINARY ARGS... -incoming file:PATH)");
		return -EINVAL;
	}
	cmd = p->cpr_exec_command[0];
	if (strchr(cmd, '/')) {
		found = executable(cmd);
		if (found == -ENOENT)
			rl_err_set(err, "cpr-exec-command: '%s' does not exist",
				   cmd);
		else if (found < 0)
			rl_err_set(err, "cpr-exec-command: '%s' is not an executable file (chmod +x it or fix the path)",
				   cmd);
		return found;
	}
	path = getenv("PATH");
	if (!path || !*path)
		path = "/bin:/usr/bin"; /* execvp's default */
	for (dir = path; dir; dir = strchr(dir, ':') ? strchr(dir, ':') + 1 : NULL) {
		size_t dlen = strcspn(dir, ":");
		int r;

		if ((size_t)snprintf(buf, sizeof(buf), "%.*s%s%s", (int)dlen,
				     dir, dlen ? "/" : "", cmd) >= sizeof(buf))
			continue;
		r = executable(buf);
		if (!r)
			return 0;
		if (r == -EACCES)
			found = -EACCES;
	}
	if (found == -EACCES)
		rl_err_set(err, "cpr-exec-command: '%s' is in PATH but not executable", cmd);
	else
		rl_err_set(err, "cpr-exec-command: '%s' not found in PATH (%s); give its full path",
			   cmd, path);
	return found;
}

static int check_ram(const struct rl_mig_vm *vm, const struct rl_mig_params *p,
		     struct rl_error *err)
{
	const char *mode = rl_mig_mode_name(p->mode);

	if (p->mode != RL_MODE_CPR_EXEC && p->mode != RL_MODE_CPR_TRANSFER)
		return 0;
	if (!vm->aux_ram_share && vm->has_implicit_ram) {
		rl_err_set(err, "%s needs -machine aux-ram-share=on: this VM has RAM not created by a memory-backend object (ROMs, firmware, -m without memory-backend=), which would be lost",
			   mode);
		return -EPERM;
	}
	for (unsigned i = 0; vm->ram && i < vm->ram->count; i++) {
		const struct rl_ram_block *b = &vm->ram->blocks[i];
		const char *type = rl_ram_backend_type(b);

		if (b->shared && b->fd >= 0)
			continue;
		if (b->implicit)
			rl_err_set(err, "%s '%s' is not shared: %s needs -machine aux-ram-share=on",
				   type, b->name, mode);
		else if (b->backing == RL_RAM_ANON && b->shared)
			rl_err_set(err, "%s '%s' has no file descriptor to keep across the update: %s needs a memfd (use memory-backend-memfd,share=on)",
				   type, b->name, mode);
		else if (b->backing == RL_RAM_ANON)
			rl_err_set(err, "%s '%s' is not shared: %s needs share=on (use memory-backend-memfd,share=on)",
				   type, b->name, mode);
		else
			rl_err_set(err, "%s '%s' is not shared: %s needs share=on (add share=on to it)",
				   type, b->name, mode);
		return -EPERM;
	}
	return 0;
}

int rl_mig_check_blockers(const struct rl_mig_vm *vm,
			  const struct rl_mig_params *p, const char *uri,
			  struct rl_error *err)
{
	int ret;

	ret = check_caps(p, err);
	if (!ret)
		ret = check_uri(p, uri, err);
	if (!ret)
		ret = check_command(p, err);
	if (!ret)
		ret = check_ram(vm, p, err);
	if (!ret && vm->stream) {
		struct rl_error cerr = { { 0 } };

		ret = rl_stream_config_check(vm->stream, &cerr);
		if (ret)
			rl_err_set(err, "this VM's state could not be loaded back: %s", cerr.msg);
	}
	return ret;
}
