// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Stand-ins for the cpr-exec calls of librelive that are not in the library
 * yet: they refuse with -ENOSYS, so a migration in mode cpr-exec fails
 * cleanly and the guest resumes. The library's definitions replace them.
 */
#include <errno.h>

#include "relive/cpr.h"

__attribute__((weak)) int rl_cpr_exec(struct rl_cpr_state *s, char *const argv[],
				      const struct rl_cpr_exec_opts *opts,
				      struct rl_error *err)
{
	return -ENOSYS;
}

__attribute__((weak)) int rl_cpr_exec_release_holder(const struct rl_cpr_state *s)
{
	return -ENOENT;
}
