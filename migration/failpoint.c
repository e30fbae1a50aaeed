// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The failpoint table and RELIVE_FAILPOINTS, read once when the process
 * starts: "name=ACTION[@HIT]" entries separated by commas. ACTION: an errno
 * name or number, "crash" (SIGKILL), "delay:MS" or "trace" (say so, change
 * nothing); HIT: the hit of that site that fires (default 1), "@N+" that
 * one and every later one; name "*" (trace only): every site. Entries
 * prefixed "next:" are handed on to the process this one executes; "list"
 * prints every failpoint of this binary and exits. Built only with fault
 * injection, and so the one part of librelive that prints: a failpoint
 * that fires says so on stderr, for the test that armed it.
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <time.h>
#include <unistd.h>

#include "failpoint.h"

#define FP_ENV "RELIVE_FAILPOINTS"
#define FP_MAX 32

/* The linker's bounds of the section; weak: a binary may have no failpoint. */
extern struct rl_failpoint __start_rl_failpoints[] __attribute__((weak, visibility("hidden")));
extern struct rl_failpoint __stop_rl_failpoints[] __attribute__((weak, visibility("hidden")));

enum fp_action { FP_ERRNO, FP_CRASH, FP_DELAY, FP_TRACE };

struct fp_armed {
	char name[64];
	enum fp_action action;
	int value;		/* errno or milliseconds */
	unsigned hit;		/* the hit that fires */
	bool from_on;		/* and every later one */
};

static struct fp_armed armed[FP_MAX];
static unsigned narmed;

static bool known(const char *name)
{
	for (const struct rl_failpoint *f = __start_rl_failpoints; f < __stop_rl_failpoints; f++)
		if (!strcmp(f->name, name))
			return true;
	return false;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Every failpoint of this binary, once each, sorted. */
static void list(void)
{
	size_t n = (size_t)(__stop_rl_failpoints - __start_rl_failpoints);
	const char **names = calloc(n ? n : 1, sizeof(*names));

	for (size_t i = 0; i < n; i++)
		names[i] = __start_rl_failpoints[i].name;
	qsort(names, n, sizeof(*names), cmp_names);
	for (size_t i = 0; i < n; i++)
		if (i == 0 || strcmp(names[i], names[i - 1]))
			printf("%s\n", names[i]);
	fflush(stdout);
	free(names);
}

static int errno_of(const char *s)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (*s && !*end)
		return v > 0 && v < 4096 ? (int)v : 0;
	for (int e = 1; e < 134; e++) {
		const char *n = strerrorname_np(e);

		if (n && !strcmp(n, s))
			return e;
	}
	return 0;
}

/* One "name=ACTION[@HIT]"; Return: false when it does not parse. */
static bool parse_one(char *ent, struct fp_armed *a)
{
	char *eq = strchr(ent, '='), *at;

	if (!eq || eq == ent || (size_t)(eq - ent) >= sizeof(a->name))
		return false;
	memset(a, 0, sizeof(*a));
	memcpy(a->name, ent, (size_t)(eq - ent));
	a->hit = 1;
	at = strchr(eq + 1, '@');
	if (at) {
		char *end;

		*at = '\0';
		a->hit = (unsigned)strtoul(at + 1, &end, 10);
		a->from_on = *end == '+';
		if (!a->hit || (*end && strcmp(end, "+")))
			return false;
	}
	if (!strcmp(eq + 1, "trace")) {
		a->action = FP_TRACE;
	} else if (!strcmp(eq + 1, "crash")) {
		a->action = FP_CRASH;
	} else if (!strncmp(eq + 1, "delay:", 6)) {
		a->action = FP_DELAY;
		a->value = atoi(eq + 7);
		if (a->value <= 0)
			return false;
	} else if (!strcmp(a->name, "*")) {
		return false; /* every site at once only traces */
	} else {
		a->action = FP_ERRNO;
		a->value = errno_of(eq + 1);
		if (!a->value)
			return false;
	}
	return true;
}

static void bad(const char *what, const char *ent)
{
	fprintf(stderr, "relive: %s: %s '%s'\n", FP_ENV, what, ent);
	exit(2);
}

/*
 * A second copy of librelive in one process (a shared object that links its
 * own, loaded into a binary that has one) runs this constructor again when
 * it is loaded, after the binary's has left only the "next:" entries:
 * the first copy in a process image marks the environment with the image's
 * AT_RANDOM bytes (new at every exec), and later copies leave it alone.
 */
static bool seen_in_this_image(void)
{
	const unsigned char *r = (const unsigned char *)getauxval(AT_RANDOM);
	const char *seen = getenv(FP_ENV "_IMAGE");
	char tag[33];

	if (!r)
		return false;
	for (int i = 0; i < 16; i++)
		snprintf(tag + 2 * i, 3, "%02x", r[i]);
	if (seen && !strcmp(seen, tag))
		return true;
	setenv(FP_ENV "_IMAGE", tag, 1);
	return false;
}

__attribute__((constructor))
static void failpoints_arm(void)
{
	const char *env = getenv(FP_ENV);
	char *copy, *save = NULL, *next, *ent;
	size_t nlen = 0;

	if (!env || seen_in_this_image())
		return;
	if (!strcmp(env, "list")) {
		list();
		exit(0);
	}
	copy = strdup(env);
	next = calloc(1, strlen(env) + 1);
	if (!copy || !next)
		abort();
	for (ent = strtok_r(copy, ",", &save); ent; ent = strtok_r(NULL, ",", &save)) {
		if (!strncmp(ent, "next:", 5)) {
			nlen += (size_t)sprintf(next + nlen, "%s%s", nlen ? "," : "", ent + 5);
			continue;
		}
		if (!strncmp(ent, "trampoline.", 11))
			continue; /* the trampoline's own, read by it */
		if (narmed == FP_MAX)
			bad("too many entries at", ent);
		if (!parse_one(ent, &armed[narmed]))
			bad("cannot parse", ent);
		if (strcmp(armed[narmed].name, "*") && !known(armed[narmed].name))
			bad("this binary has no failpoint", armed[narmed].name);
		narmed++;
	}
	/* this process's entries are used up: only "next:" ones go on */
	if (nlen)
		setenv(FP_ENV, next, 1);
	else
		unsetenv(FP_ENV);
	free(copy);
	free(next);
}

int rl_failpoint_hit(struct rl_failpoint *fp)
{
	unsigned n = __atomic_add_fetch(&fp->hits, 1, __ATOMIC_RELAXED);

	for (unsigned i = 0; i < narmed; i++) {
		struct fp_armed *a = &armed[i];

		if (strcmp(a->name, fp->name) && strcmp(a->name, "*"))
			continue;
		if (n != a->hit && !(a->from_on && n > a->hit))
			continue;
		switch (a->action) {
		case FP_TRACE:
			fprintf(stderr, "relive: failpoint %s hit %u: trace (pid %d)\n",
				fp->name, n, (int)getpid());
			break;
		case FP_CRASH:
			fprintf(stderr, "relive: failpoint %s hit %u: SIGKILL (pid %d)\n",
				fp->name, n, (int)getpid());
			raise(SIGKILL);
			break;
		case FP_DELAY: {
			struct timespec ts = { a->value / 1000, (a->value % 1000) * 1000000L };

			fprintf(stderr, "relive: failpoint %s hit %u: delay %d ms (pid %d)\n",
				fp->name, n, a->value, (int)getpid());
			while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
				;
			break;
		}
		case FP_ERRNO:
			fprintf(stderr, "relive: failpoint %s hit %u: %s (pid %d)\n", fp->name, n,
				strerrorname_np(a->value), (int)getpid());
			errno = a->value;
			return -a->value;
		}
	}
	return 0;
}
