// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * What both monitors share at the process level: writing every queued reply
 * and event out before an exec.
 */
#include "monitor.h"
#include "monitor-int.h"

void monitor_flush_all(void)
{
	chardev_flush_all(MONITOR_FLUSH_TIMEOUT_MS);
}
