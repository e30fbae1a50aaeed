// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The migration status and the VM run state, with QEMU's names and the
 * transitions QEMU allows between the states relive uses.
 */
#include <errno.h>
#include <string.h>

#include "relive/migrate.h"

static const char *const status_names[RL_MIG__MAX] = {
	[RL_MIG_NONE] = "none",
	[RL_MIG_SETUP] = "setup",
	[RL_MIG_ACTIVE] = "active",
	[RL_MIG_COMPLETED] = "completed",
	[RL_MIG_FAILED] = "failed",
	[RL_MIG_CANCELLING] = "cancelling",
	[RL_MIG_CANCELLED] = "cancelled",
};

#define B(s) (1u << (s))

static const unsigned status_next[RL_MIG__MAX] = {
	[RL_MIG_NONE] = B(RL_MIG_SETUP),
	[RL_MIG_SETUP] = B(RL_MIG_ACTIVE) | B(RL_MIG_FAILED) | B(RL_MIG_CANCELLING),
	[RL_MIG_ACTIVE] = B(RL_MIG_COMPLETED) | B(RL_MIG_FAILED) | B(RL_MIG_CANCELLING),
	[RL_MIG_COMPLETED] = B(RL_MIG_SETUP),
	[RL_MIG_FAILED] = B(RL_MIG_SETUP),
	[RL_MIG_CANCELLING] = B(RL_MIG_CANCELLED) | B(RL_MIG_FAILED),
	[RL_MIG_CANCELLED] = B(RL_MIG_SETUP),
};

const char *rl_mig_status_name(enum rl_mig_status s)
{
	if ((unsigned)s >= RL_MIG__MAX)
		return NULL;
	return status_names[s];
}

bool rl_mig_status_is_idle(enum rl_mig_status s)
{
	return s == RL_MIG_NONE || s == RL_MIG_COMPLETED ||
	       s == RL_MIG_FAILED || s == RL_MIG_CANCELLED;
}

int rl_mig_status_set(enum rl_mig_status *cur, enum rl_mig_status to)
{
	if ((unsigned)*cur >= RL_MIG__MAX || (unsigned)to >= RL_MIG__MAX)
		return -EINVAL;
	if (!(status_next[*cur] & B(to)))
		return -EINVAL;
	*cur = to;
	return 0;
}

static const char *const run_names[RL_RUN__MAX] = {
	[RL_RUN_PRELAUNCH] = "prelaunch",
	[RL_RUN_INMIGRATE] = "inmigrate",
	[RL_RUN_RUNNING] = "running",
	[RL_RUN_PAUSED] = "paused",
	[RL_RUN_FINISH_MIGRATE] = "finish-migrate",
	[RL_RUN_POSTMIGRATE] = "postmigrate",
	[RL_RUN_SAVE_VM] = "save-vm",
	[RL_RUN_RESTORE_VM] = "restore-vm",
	[RL_RUN_SUSPENDED] = "suspended",
	[RL_RUN_SHUTDOWN] = "shutdown",
	[RL_RUN_INTERNAL_ERROR] = "internal-error",
	[RL_RUN_IO_ERROR] = "io-error",
};

/* After QEMU's runstate_transitions_def, limited to the states above. */
static const unsigned run_next[RL_RUN__MAX] = {
	[RL_RUN_PRELAUNCH] = B(RL_RUN_INMIGRATE) | B(RL_RUN_RUNNING) |
			     B(RL_RUN_PAUSED) | B(RL_RUN_FINISH_MIGRATE) |
			     B(RL_RUN_SHUTDOWN),
	[RL_RUN_INMIGRATE] = B(RL_RUN_RUNNING) | B(RL_RUN_PAUSED) |
			     B(RL_RUN_PRELAUNCH) | B(RL_RUN_POSTMIGRATE) |
			     B(RL_RUN_FINISH_MIGRATE) | B(RL_RUN_SUSPENDED) |
			     B(RL_RUN_SHUTDOWN) | B(RL_RUN_INTERNAL_ERROR) |
			     B(RL_RUN_IO_ERROR),
	[RL_RUN_RUNNING] = B(RL_RUN_PAUSED) | B(RL_RUN_FINISH_MIGRATE) |
			   B(RL_RUN_POSTMIGRATE) | B(RL_RUN_SAVE_VM) |
			   B(RL_RUN_SUSPENDED) | B(RL_RUN_SHUTDOWN) |
			   B(RL_RUN_INTERNAL_ERROR) | B(RL_RUN_IO_ERROR),
	[RL_RUN_PAUSED] = B(RL_RUN_RUNNING) | B(RL_RUN_FINISH_MIGRATE) |
			  B(RL_RUN_POSTMIGRATE) | B(RL_RUN_SAVE_VM) |
			  B(RL_RUN_PRELAUNCH) | B(RL_RUN_SUSPENDED) |
			  B(RL_RUN_SHUTDOWN),
	[RL_RUN_FINISH_MIGRATE] = B(RL_RUN_POSTMIGRATE) | B(RL_RUN_RUNNING) |
				  B(RL_RUN_PAUSED) | B(RL_RUN_PRELAUNCH) |
				  B(RL_RUN_SUSPENDED) | B(RL_RUN_IO_ERROR),
	[RL_RUN_POSTMIGRATE] = B(RL_RUN_RUNNING) | B(RL_RUN_PAUSED) |
			       B(RL_RUN_FINISH_MIGRATE) | B(RL_RUN_PRELAUNCH) |
			       B(RL_RUN_SHUTDOWN),
	[RL_RUN_SAVE_VM] = B(RL_RUN_RUNNING) | B(RL_RUN_PAUSED) |
			   B(RL_RUN_SUSPENDED),
	[RL_RUN_RESTORE_VM] = B(RL_RUN_RUNNING) | B(RL_RUN_PAUSED) |
			      B(RL_RUN_PRELAUNCH),
	[RL_RUN_SUSPENDED] = B(RL_RUN_RUNNING) | B(RL_RUN_PAUSED) |
			     B(RL_RUN_FINISH_MIGRATE) | B(RL_RUN_SAVE_VM) |
			     B(RL_RUN_SHUTDOWN),
	[RL_RUN_SHUTDOWN] = B(RL_RUN_PAUSED) | B(RL_RUN_FINISH_MIGRATE) |
			    B(RL_RUN_PRELAUNCH),
	[RL_RUN_INTERNAL_ERROR] = B(RL_RUN_PAUSED) | B(RL_RUN_FINISH_MIGRATE) |
				  B(RL_RUN_PRELAUNCH),
	[RL_RUN_IO_ERROR] = B(RL_RUN_RUNNING) | B(RL_RUN_FINISH_MIGRATE) |
			    B(RL_RUN_PRELAUNCH),
};

const char *rl_run_state_name(enum rl_run_state s)
{
	if ((unsigned)s >= RL_RUN__MAX)
		return NULL;
	return run_names[s];
}

int rl_run_state_parse(const char *name, enum rl_run_state *out)
{
	for (unsigned i = 0; i < RL_RUN__MAX; i++) {
		if (name && !strcmp(name, run_names[i])) {
			*out = i;
			return 0;
		}
	}
	return -EINVAL;
}

bool rl_run_state_is_running(enum rl_run_state s)
{
	return s == RL_RUN_RUNNING;
}

int rl_run_state_set(enum rl_run_state *cur, enum rl_run_state to)
{
	if ((unsigned)*cur >= RL_RUN__MAX || (unsigned)to >= RL_RUN__MAX)
		return -EINVAL;
	if (*cur != to && !(run_next[*cur] & B(to)))
		return -EINVAL;
	*cur = to;
	return 0;
}
