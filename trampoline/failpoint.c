// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The trampoline's failpoints (docs/vm.md, "Fault injection and kills"):
 * RELIVE_FAILPOINTS entries named "trampoline.*" with "delay:MS" or "crash",
 * so that a test can hold or kill the trampoline at a point. Without
 * -Dfault_injection=true tramp_failpoint() does nothing.
 */
#include "failpoint.h"
#include "lib.h"
#include "sys.h"

#ifdef RL_FAULT_INJECTION
/* The value of entry @name in the comma-separated @list, or NULL. */
static const char *entry(const char *list, const char *name)
{
	for (const char *p = list; p && *p;) {
		const char *v = t_after(p, name);

		if (v && *v == '=')
			return v + 1;
		while (*p && *p != ',')
			p++;
		if (*p == ',')
			p++;
	}
	return NULL;
}

void tramp_failpoint(char **envp, const char *name)
{
	const char *v = entry(t_getenv(envp, "RELIVE_FAILPOINTS"), name);
	const char *ms = v ? t_after(v, "delay:") : NULL;
	long pid = rl_sys6(SYS_getpid, 0, 0, 0, 0, 0, 0);
	int n = 0;

	if (!v || (!ms && !t_after(v, "crash")))
		return;
	t_err("relive: failpoint ");
	t_err(name);
	if (ms) {
		char num[24];

		/* the value ends at the next entry */
		for (const char *p = ms; *p >= '0' && *p <= '9'; p++)
			n = n * 10 + (*p - '0');
		t_err(" hit 1: delay ");
		t_err(t_u64(num, (uint64_t)n));
		t_err(" ms (pid ");
	} else {
		t_err(" hit 1: SIGKILL (pid ");
	}
	t_err_num(pid);
	t_err(")\n");
	t_flush();
	if (ms) {
		struct timespec ts = { n / 1000, (n % 1000) * 1000000L };

		sys_ppoll(NULL, 0, &ts);
	} else {
		rl_sys6(SYS_kill, pid, 9, 0, 0, 0, 0);
	}
}
#else
void tramp_failpoint(char **envp, const char *name)
{
}
#endif
