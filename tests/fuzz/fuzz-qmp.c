// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Fuzz target for the QMP line dispatcher: every input line goes through
 * qmp_dispatch_line() against the control stub, first unnegotiated, then as
 * the handshake leaves it. Replies must be one "\r\n"-terminated line.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "monitor-int.h"
#include "control-stub.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	g_autofree char *text = g_strndup((const char *)data, size);
	g_auto(GStrv) lines = g_strsplit(text, "\n", 64);
	gboolean neg = FALSE;

	stub_reset();
	for (int i = 0; lines[i]; i++) {
		gboolean quit = FALSE;
		g_autofree char *reply = qmp_dispatch_line(lines[i], &neg, &quit);
		size_t len;

		if (!reply)
			continue;
		len = strlen(reply);
		/* One line out per line in: no bare newline inside a reply. */
		if (len < 2 || strcmp(reply + len - 2, "\r\n") || memchr(reply, '\n', len - 1))
			abort();
	}
	return 0;
}
