// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A monitors module from another relive-vm build: relive-vm must refuse it
 * by name and version instead of calling into it.
 */
#include "monitors/monitors.h"

const struct vm_monitors_ops relive_vm_monitors = {
	.abi = VM_MONITORS_ABI,
	.version = "0.0.0-other",
};
