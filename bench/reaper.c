// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The reaper of adopted orphans (reaper.h). The children of the process are
 * read from /proc/self/task/TID/children: an orphan is reparented to any
 * live thread of the subreaper, so every thread's list is read.
 */
#include "reaper.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int reaper_become(void)
{
	return prctl(PR_SET_CHILD_SUBREAPER, 1) ? -errno : 0;
}

static bool kept(pid_t pid, const pid_t *keep, size_t n_keep)
{
	for (size_t i = 0; i < n_keep; i++)
		if (keep[i] == pid)
			return true;
	return false;
}

/*
 * Reaps the exited children listed in one thread's children file, those
 * not in @keep; with @count_only, counts the children instead.
 */
static unsigned reap_listed(const char *path, const pid_t *keep, size_t n_keep,
			    bool count_only)
{
	FILE *f = fopen(path, "re");
	unsigned reaped = 0;
	long pid;

	if (!f)
		return 0;
	while (fscanf(f, "%ld", &pid) == 1) {
		if (count_only) {
			reaped++;
			continue;
		}
		if (pid <= 0 || kept((pid_t)pid, keep, n_keep))
			continue;
		/* __WALL: whatever exit signal the orphan was cloned with. */
		if (waitpid((pid_t)pid, NULL, WNOHANG | __WALL) == (pid_t)pid)
			reaped++;
	}
	fclose(f);
	return reaped;
}

static unsigned walk_children(const pid_t *keep, size_t n_keep, bool count_only)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	unsigned reaped = 0;

	if (!d)
		return 0;
	while ((e = readdir(d))) {
		char path[sizeof("/proc/self/task//children") + sizeof(e->d_name)];

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/children", e->d_name);
		reaped += reap_listed(path, keep, n_keep, count_only);
	}
	closedir(d);
	return reaped;
}

unsigned reaper_reap_adopted(const pid_t *keep, size_t n_keep)
{
	return walk_children(keep, n_keep, false);
}

static unsigned count_children(void)
{
	return walk_children(NULL, 0, true);
}

static unsigned long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000 + (unsigned long long)ts.tv_nsec / 1000000;
}

unsigned reaper_drain(unsigned timeout_ms)
{
	unsigned long long deadline = now_ms() + timeout_ms;

	for (;;) {
		pid_t pid = waitpid(-1, NULL, WNOHANG | __WALL);

		if (pid > 0 || (pid < 0 && errno == EINTR))
			continue;
		if (pid < 0)
			return 0;	/* ECHILD: none left */
		if (now_ms() >= deadline)
			return count_children();
		usleep(10000);
	}
}
