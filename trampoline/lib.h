/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The little of a C library relive-trampoline and the exec probe need: the
 * process entry, the mem* functions the compiler may call, string helpers,
 * a buffered stderr and number formatting. No allocation, no errno.
 */
#ifndef RELIVE_TRAMPOLINE_LIB_H
#define RELIVE_TRAMPOLINE_LIB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Called by _start with the initial stack's argc, argv and envp. Return: exit code. */
int tramp_main(int argc, char **argv, char **envp);

void *memcpy(void *d, const void *s, size_t n);
void *memmove(void *d, const void *s, size_t n);
void *memset(void *d, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);

size_t t_strlen(const char *s);
bool t_streq(const char *a, const char *b);
/* Return: the rest of @s after @prefix, or NULL when @s does not start with it. */
const char *t_after(const char *s, const char *prefix);
/* t_parse_int - a whole non-negative decimal int. Return: 0 and *@out or -1. */
int t_parse_int(const char *s, int *out);
/* Return: the value of @name in @envp, or NULL. */
const char *t_getenv(char **envp, const char *name);
/* t_u64 - @v in decimal into @buf (at least 21 bytes). Return: @buf. */
char *t_u64(char *buf, uint64_t v);
/* Return: CLOCK_MONOTONIC in ns. */
uint64_t t_now(void);

/* Buffered stderr: t_err() appends (flushing when full), t_flush() writes it out. */
void t_err(const char *s);
void t_err_num(long v);
void t_flush(void);
/* Set: t_flush() drops the buffer (fd 2 is not a place to write to). */
extern bool t_err_muted;
/* t_flush_fd - write the buffer to @fd instead (--help goes to stdout). */
void t_flush_fd(int fd);
/* Return: "ENOENT (No such file or directory)"-style text for a positive errno. */
const char *t_strerror(int err);

#endif
