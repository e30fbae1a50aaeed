// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vm-error.h's domain, for relive-vm and the monitor tests.
 */
#include "vm-error.h"

G_DEFINE_QUARK(relive-vm-error-quark, vm_error)
