/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * relive-vm's GError domain, the machine's and the monitors': every message
 * a user sees from relive-vm's machine code goes through vm_error().
 */
#ifndef VM_ERROR_H
#define VM_ERROR_H

#include <glib.h>

#define VM_ERROR (vm_error_quark())
GQuark vm_error_quark(void);

/* The codes: only the one a caller tells apart has its own. */
enum {
	VM_ERROR_FAILED,
	VM_ERROR_TOO_LARGE,	/* a state over what an update carries */
};

#define vm_error(errp, ...) g_set_error((errp), VM_ERROR, 0, __VA_ARGS__)

#endif
