// SPDX-License-Identifier: GPL-2.0-or-later
/* The observer's steering off the VMM's CPU (steer.h). */
#include "steer.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define STAT_CPU_FIELD 39

void steer_init(struct steer *st, bool pinned)
{
	memset(st, 0, sizeof(*st));
	st->statfd = -1;
	st->on = !pinned && !sched_getaffinity(0, sizeof(st->all), &st->all) &&
		 CPU_COUNT(&st->all) > 1;
}

void steer_watch(struct steer *st, pid_t pid)
{
	char path[32];

	if (st->statfd >= 0)
		close(st->statfd);
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	st->statfd = st->on ? open(path, O_RDONLY | O_CLOEXEC) : -1;
}

int steer_stat_cpu(const char *stat)
{
	const char *p = strrchr(stat, ')');
	int field = 2;
	char *end;
	long cpu;

	if (!p)
		return -1;
	for (p++; *p && field < STAT_CPU_FIELD; p++)
		if (*p == ' ')
			field++;
	if (field != STAT_CPU_FIELD)
		return -1;
	cpu = strtol(p, &end, 10);
	if (end == p || (*end != ' ' && *end != '\n' && *end) || cpu < 0 || cpu >= CPU_SETSIZE)
		return -1;
	return (int)cpu;
}

int steer_away(struct steer *st)
{
	char buf[1024];
	cpu_set_t set;
	ssize_t n;
	int cpu, self;

	if (!st->on || st->statfd < 0)
		return -1;
	n = pread(st->statfd, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	cpu = steer_stat_cpu(buf);
	self = sched_getcpu();
	if (cpu < 0 || cpu != self)
		return -1;
	set = st->all;
	CPU_CLR(cpu, &set);
	if (!CPU_COUNT(&set) || sched_setaffinity(0, sizeof(set), &set))
		return -1;
	st->moved = true;
	return cpu;
}

void steer_back(struct steer *st)
{
	if (st->moved && !sched_setaffinity(0, sizeof(st->all), &st->all))
		st->moved = false;
}

void steer_close(struct steer *st)
{
	steer_back(st);
	if (st->statfd >= 0)
		close(st->statfd);
	st->statfd = -1;
}
