// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Migration modes, capabilities and parameters with QEMU's names, and the
 * parsing of migration URIs.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../io/error-internal.h"
#include "relive/migrate.h"

static const char *const mode_names[RL_MODE__MAX] = {
	[RL_MODE_NORMAL] = "normal",
	[RL_MODE_CPR_REBOOT] = "cpr-reboot",
	[RL_MODE_CPR_TRANSFER] = "cpr-transfer",
	[RL_MODE_CPR_EXEC] = "cpr-exec",
};

static const char *const cap_names[RL_CAP__MAX] = {
	[RL_CAP_X_IGNORE_SHARED] = "x-ignore-shared",
	[RL_CAP_POSTCOPY_RAM] = "postcopy-ram",
	[RL_CAP_BACKGROUND_SNAPSHOT] = "background-snapshot",
	[RL_CAP_X_COLO] = "x-colo",
};

const char *rl_mig_mode_name(enum rl_mig_mode mode)
{
	if ((unsigned)mode >= RL_MODE__MAX)
		return NULL;
	return mode_names[mode];
}

int rl_mig_mode_parse(const char *name, enum rl_mig_mode *out)
{
	for (unsigned i = 0; i < RL_MODE__MAX; i++) {
		if (name && !strcmp(name, mode_names[i])) {
			*out = i;
			return 0;
		}
	}
	return -EINVAL;
}

bool rl_mig_mode_is_cpr(enum rl_mig_mode mode)
{
	return mode == RL_MODE_CPR_REBOOT || mode == RL_MODE_CPR_TRANSFER ||
	       mode == RL_MODE_CPR_EXEC;
}

const char *rl_mig_cap_name(enum rl_mig_cap cap)
{
	if ((unsigned)cap >= RL_CAP__MAX)
		return NULL;
	return cap_names[cap];
}

int rl_mig_cap_parse(const char *name, enum rl_mig_cap *out)
{
	for (unsigned i = 0; i < RL_CAP__MAX; i++) {
		if (name && !strcmp(name, cap_names[i])) {
			*out = i;
			return 0;
		}
	}
	return -EINVAL;
}

void rl_mig_params_init(struct rl_mig_params *p)
{
	memset(p, 0, sizeof(*p));
	p->mode = RL_MODE_NORMAL;
}

static void free_argv(char **argv)
{
	if (!argv)
		return;
	for (char **a = argv; *a; a++)
		free(*a);
	free(argv);
}

void rl_mig_params_free(struct rl_mig_params *p)
{
	free_argv(p->cpr_exec_command);
	rl_mig_params_init(p);
}

int rl_mig_params_set_exec_command(struct rl_mig_params *p,
				   const char *const *argv)
{
	size_t n = 0;
	char **copy;

	while (argv && argv[n])
		n++;
	if (!n) {
		free_argv(p->cpr_exec_command);
		p->cpr_exec_command = NULL;
		return 0;
	}
	copy = calloc(n + 1, sizeof(*copy));
	if (!copy)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		copy[i] = strdup(argv[i]);
		if (!copy[i]) {
			free_argv(copy);
			return -ENOMEM;
		}
	}
	free_argv(p->cpr_exec_command);
	p->cpr_exec_command = copy;
	return 0;
}

static const struct {
	const char *prefix;
	enum rl_mig_uri_kind kind;
} uri_kinds[] = {
	{ "file:", RL_URI_FILE },
	{ "unix:", RL_URI_UNIX },
	{ "fd:", RL_URI_FD },
	{ "exec:", RL_URI_EXEC },
	{ "tcp:", RL_URI_TCP },
};

int rl_mig_uri_parse(const char *uri, struct rl_mig_uri *out,
		     struct rl_error *err)
{
	const char *rest = NULL;
	size_t len;

	if (!uri || !*uri) {
		rl_err_set(err, "empty migration URI (use file:PATH)");
		return -EINVAL;
	}
	for (size_t i = 0; i < sizeof(uri_kinds) / sizeof(uri_kinds[0]); i++) {
		size_t plen = strlen(uri_kinds[i].prefix);

		if (!strncmp(uri, uri_kinds[i].prefix, plen)) {
			out->kind = uri_kinds[i].kind;
			rest = uri + plen;
			break;
		}
	}
	if (!rest) {
		rl_err_set(err, "unknown migration URI '%s' (use file:PATH, unix:PATH, fd:, exec: or tcp:)",
			   uri);
		return -EINVAL;
	}
	if (!*rest) {
		rl_err_set(err, "migration URI '%s' has nothing after the ':'",
			   uri);
		return -EINVAL;
	}
	len = strlen(rest);
	if (out->kind == RL_URI_FILE) {
		const char *comma = strrchr(rest, ',');

		if (comma && !strncmp(comma, ",offset=", 8)) {
			rl_err_set(err, "migration URI '%s': offset= is not supported; the state stream starts at offset 0 of its own file",
				   uri);
			return -EINVAL;
		}
	}
	if (len >= sizeof(out->path)) {
		rl_err_set(err, "migration URI is too long (%zu bytes)", len);
		return -ENAMETOOLONG;
	}
	memcpy(out->path, rest, len + 1);
	return 0;
}
