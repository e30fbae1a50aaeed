// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Fuzz target for the QMP input splitter and dispatcher: the input is cut
 * into messages by qmp_next_value() and each goes through qmp_dispatch_line()
 * against the control stub, first unnegotiated, then as the handshake leaves
 * it. Replies must be one "\r\n"-terminated line.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "monitors/monitor-int.h"
#include "control-stub.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	g_autofree char *text = g_strndup((const char *)data, size);
	gboolean neg = FALSE;
	size_t off = 0, len = strlen(text);

	stub_reset();
	for (int n = 0; n < 64; n++) {
		gboolean quit = FALSE;
		g_autofree char *msg = NULL;
		g_autofree char *reply = NULL;
		size_t start, end = qmp_next_value(text + off, len - off, &start);
		size_t rlen;

		if (!end)
			break;
		if (start > end || off + end > len)
			abort();
		msg = g_strndup(text + off + start, end - start);
		off += end;
		reply = qmp_dispatch_line(msg, &neg, &quit);
		if (!reply)
			continue;
		rlen = strlen(reply);
		/* One line out per message in: no bare newline inside a reply. */
		if (rlen < 2 || strcmp(reply + rlen - 2, "\r\n") || memchr(reply, '\n', rlen - 1))
			abort();
	}
	return 0;
}
