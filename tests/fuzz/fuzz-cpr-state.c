// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Fuzz target for the CPR state parser (both relive's format and QEMU's):
 * any input parses or fails cleanly; a parse that succeeds yields a state
 * that stays inside its limits and encodes again.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cpr-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct rl_cpr_state st;
static uint8_t out[1 << 20];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rl_cpr_diag diag;
	size_t len;

	if (rl_cpr_state_parse(data, size, &st, &diag) != 0) {
		if (!diag.what || diag.offset > size)
			abort();
		return 0;
	}
	if (st.nfds > RL_CPR_MAX_FDS || st.argv_len > RL_CPR_ARGV_MAX ||
	    st.ntimes > RL_CPR_MAX_TIMES || st.nvalues > RL_CPR_MAX_VALUES)
		abort();
	for (uint32_t i = 0; i < st.nfds; i++)
		if (strnlen(st.fds[i].name, RL_CPR_NAME_MAX) >= RL_CPR_NAME_MAX ||
		    rl_cpr_lookup(&st, st.fds[i].name, st.fds[i].id) != &st.fds[i])
			abort();
	if (rl_cpr_state_encode(&st, out, sizeof(out), &len) != 0)
		abort();
	/* What was parsed and encoded again parses to the same table. */
	if (st.format == RL_CPR_FORMAT_RELIVE) {
		static struct rl_cpr_state again;

		if (rl_cpr_state_parse(out, len, &again, NULL) != 0 ||
		    again.nfds != st.nfds || again.argc != st.argc)
			abort();
	}
	return 0;
}
