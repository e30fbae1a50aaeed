// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Fuzz target for the copy of the rollback command in the environment
 * (RELIVE_CPR_ROLLBACK): any value parses or is refused cleanly; a value
 * that parses gives at most RL_CPR_MAX_ARGS arguments and encodes again to
 * the same string.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cpr-internal.h"
#include "relive/cpr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct rl_cpr_state st;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *v = malloc(size + 1), *again;
	char **argv;
	unsigned argc = 0;
	int fd;

	if (!v)
		return 0;
	memcpy(v, data, size);
	v[size] = '\0';
	if (setenv(RL_CPR_ROLLBACK_ENV, v, 1) < 0 ||
	    rl_cpr_rollback_from_env(&argv, &fd) != 0) {
		free(v);
		return 0;
	}
	while (argv[argc])
		argc++;
	if (!argc || argc > RL_CPR_MAX_ARGS || fd < -1)
		abort();
	rl_cpr_state_init(&st);
	if (rl_cpr_set_rollback(&st, (const char *const *)argv) != 0)
		abort();
	again = rl_cpr_rollback_env_encode(&st);
	/* the fd is not a real one here: compare what follows it */
	if (!again || strcmp(strchr(again, ','), strchr(v, ',')))
		abort();
	free(again);
	free(argv);
	free(v);
	return 0;
}
