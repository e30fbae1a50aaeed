// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Fuzz target for an -incoming channel given in JSON (QEMU's
 * MigrationChannel): incoming_channel_json() either fills the spec with
 * strings or refuses with a message, whatever the bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "update/transfer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	g_autofree char *arg = g_strndup((const char *)data, size);
	struct incoming_spec in = { 0 };
	g_autoptr(GError) e = NULL;

	if (incoming_channel_json(arg, &in, &e)) {
		if (e || !(in.file || in.unix_path || in.cpr_path))
			abort();
	} else if (!e || !e->message[0]) {
		abort();
	}
	g_free(in.file);
	g_free(in.unix_path);
	g_free(in.cpr_path);
	return 0;
}
