// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The rollback command in the environment (RELIVE_CPR_ROLLBACK): a second
 * copy of what the CPR state holds, for the one failure the state cannot
 * cover, a new process that cannot read the state. The kernel copies the
 * environment through the exec, so nothing has to be read to find it.
 *
 * Value: the old executable's fd (-1: none), then ",LEN:BYTES" per argument.
 * Lengths make any byte but NUL safe in an argument.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpr-internal.h"
#include "relive/cpr.h"

char *rl_cpr_rollback_env_encode(const struct rl_cpr_state *s)
{
	unsigned argc = rl_cpr_rollback_argc(s);
	size_t len = 16;
	char *v, *p;

	if (!argc)
		return NULL;
	for (unsigned i = 0; i < argc; i++)
		len += strlen(rl_cpr_rollback_arg(s, i)) + 24;
	v = malloc(len);
	if (!v)
		return NULL;
	p = v + sprintf(v, "%d", rl_cpr_rollback_exe(s) >= 0 ? rl_cpr_rollback_exe(s) : -1);
	for (unsigned i = 0; i < argc; i++) {
		const char *a = rl_cpr_rollback_arg(s, i);
		size_t n = strlen(a);

		p += sprintf(p, ",%zu:", n);
		memcpy(p, a, n);
		p += n;
	}
	*p = '\0';
	return v;
}

/* Parses "LEN:" at *@p; Return: LEN, or SIZE_MAX when malformed. */
static size_t arg_len(const char **p)
{
	char *end;
	unsigned long long n;

	/* one spelling per value: no sign, no space, no leading zero */
	if (**p < '0' || **p > '9' || (**p == '0' && (*p)[1] != ':'))
		return SIZE_MAX;
	errno = 0;
	n = strtoull(*p, &end, 10);
	if (errno || *end != ':' || n > RL_CPR_ARGV_MAX)
		return SIZE_MAX;
	*p = end + 1;
	return (size_t)n;
}

int rl_cpr_rollback_from_env(char ***argv_out, int *exe_fd)
{
	const char *v = getenv(RL_CPR_ROLLBACK_ENV), *p;
	size_t argc = 0, bytes = 0;
	char **argv, *strs, *end;
	long fd;

	if (!v)
		return -ENOENT;
	if (strncmp(v, "-1", 2) && (*v < '0' || *v > '9' || (*v == '0' && v[1] != ',')))
		return -EINVAL;
	errno = 0;
	fd = strtol(v, &end, 10);
	if (errno || end == v || fd < -1 || fd > INT32_MAX)
		return -EINVAL;
	/* first pass: count and check, so the second cannot fail */
	for (p = end; *p; argc++) {
		size_t n;

		if (*p++ != ',' || (n = arg_len(&p)) == SIZE_MAX || strnlen(p, n) != n)
			return -EINVAL;
		p += n;
		bytes += n + 1;
		if (argc >= RL_CPR_MAX_ARGS || bytes > RL_CPR_ARGV_MAX)
			return -EINVAL;
	}
	if (!argc)
		return -EINVAL;
	argv = malloc((argc + 1) * sizeof(*argv) + bytes);
	if (!argv)
		return -ENOMEM;
	strs = (char *)(argv + argc + 1);
	p = end;
	for (size_t i = 0; i < argc; i++) {
		size_t n;

		p++;
		n = arg_len(&p);
		argv[i] = memcpy(strs, p, n);
		strs[n] = '\0';
		strs += n + 1;
		p += n;
	}
	argv[argc] = NULL;
	*argv_out = argv;
	*exe_fd = (int)fd;
	return 0;
}
