/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Shared by the io/ tests: a temporary directory per test binary, a cheap
 * position-dependent byte pattern, and the backend chosen on the command
 * line ("uring" skips with 77 when the kernel has no usable io_uring).
 */
#ifndef RELIVE_TESTS_IO_HELPERS_H
#define RELIVE_TESTS_IO_HELPERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "relive/io.h"

extern bool t_fallback;	/* run every case over the pwritev/preadv backend */
extern char t_dir[];	/* this binary's temporary directory */
extern bool t_direct_ok; /* t_dir's file system takes O_DIRECT */

/* Parse argv ("uring" | "fallback"), make t_dir; exits 77 when io_uring is missing. */
void t_init(int argc, char **argv);
/* Remove t_dir and everything in it. */
void t_cleanup(void);
/* A path inside t_dir; returns a static buffer per call slot 0..3. */
const char *t_path(unsigned slot, const char *name);
/* Options with the backend set. */
struct rl_io_opts t_opts(void);
/* Number of entries in t_dir other than . and .. */
int t_count_entries(void);
/* Remove every entry of t_dir. */
void t_empty_dir(void);

/*
 * Run @fn(@arg) in a child process and return its exit status; the child's
 * seccomp filter first makes each system call in @nrs (@n of them) fail
 * with @err. Skips the test when seccomp filters cannot be installed.
 */
int t_run_refusing(const int *nrs, unsigned n, int err,
		   int (*fn)(void *arg), void *arg);

uint8_t t_byte(uint64_t pos, uint64_t seed);
void t_fill(void *buf, size_t len, uint64_t pos, uint64_t seed);
/* Return: index of the first wrong byte, or (size_t)-1 when all match. */
size_t t_check(const void *buf, size_t len, uint64_t pos, uint64_t seed);

#endif
