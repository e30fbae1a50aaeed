/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The machine side's GError domain: every message a user sees from
 * relive-vm's machine code goes through vm_error().
 */
#ifndef VM_ERROR_H
#define VM_ERROR_H

#include <glib.h>

#define VM_ERROR (vm_error_quark())
GQuark vm_error_quark(void);

#define vm_error(errp, ...) g_set_error((errp), VM_ERROR, 0, __VA_ARGS__)

#endif
