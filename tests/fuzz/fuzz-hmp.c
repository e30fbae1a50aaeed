// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Fuzz target for HMP: every input line goes through hmp_dispatch_line()
 * into the real commands (control.c), with only the machine below them
 * faked. Output must only use QEMU's "\r\n" line ends.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "monitors/monitor-int.h"
#include "fake-machine.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	g_autofree char *text = g_strndup((const char *)data, size);
	g_auto(GStrv) lines = g_strsplit(text, "\n", 64);

	fake_machine_reset();
	if (size && text[0] == 'I')
		fake_machine_set_run(RL_RUN_INMIGRATE, true);
	for (int i = 0; lines[i]; i++) {
		g_autoptr(GString) out = g_string_new(NULL);

		hmp_dispatch_line(lines[i], out);
		for (gsize j = 0; j < out->len; j++)
			if (out->str[j] == '\n' && (j == 0 || out->str[j - 1] != '\r'))
				abort();
	}
	return 0;
}
