// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Fuzz target for QMP: the input is cut into messages by qmp_next_value()
 * (too-deep messages refused and skipped as a connection does) and each goes
 * through qmp_dispatch_line() into the real commands (control.c), with only
 * the machine below them faked. Replies must be one "\r\n"-terminated line.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "monitors/monitor-int.h"
#include "fake-machine.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_reply(const char *reply)
{
	size_t rlen = strlen(reply);

	/* One line out per message in: no bare newline inside a reply. */
	if (rlen < 2 || strcmp(reply + rlen - 2, "\r\n") || memchr(reply, '\n', rlen - 1))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	g_autofree char *text = g_strndup((const char *)data, size);
	gboolean neg = FALSE;
	size_t off = 0, len = strlen(text);

	fake_machine_reset();
	/* The first byte picks the run state: some commands differ while waiting for -incoming. */
	if (len && text[0] == 'I')
		fake_machine_set_run(RL_RUN_INMIGRATE, true);
	for (int n = 0; n < 64; n++) {
		gboolean quit = FALSE, too_deep;
		g_autofree char *msg = NULL;
		g_autofree char *reply = NULL;
		size_t start, end = qmp_next_value(text + off, len - off, &start, &too_deep);

		if (!end)
			break;
		if (start > end || off + end > len)
			abort();
		if (too_deep) {
			uint32_t skip = qmp_skip_start();

			off += end;
			off += qmp_skip_value(text + off, len - off, &skip);
			reply = qmp_error_line("JSON nesting depth limit exceeded");
			check_reply(reply);
			continue;
		}
		msg = g_strndup(text + off + start, end - start);
		off += end;
		reply = qmp_dispatch_line(msg, &neg, &quit);
		if (reply)
			check_reply(reply);
	}
	return 0;
}
