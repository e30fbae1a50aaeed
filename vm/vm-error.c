// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vm-error.h's domain. Built into relive-vm and into the monitors module
 * alike: the name makes the two quarks equal.
 */
#include "vm-error.h"

G_DEFINE_QUARK(relive-vm-error-quark, vm_error)
