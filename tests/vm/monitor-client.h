/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Client side of the monitor socket tests: a temp dir, the monitor-server
 * process, unix socket connections and line reads with a deadline.
 */
#ifndef TESTS_VM_MONITOR_CLIENT_H
#define TESTS_VM_MONITOR_CLIENT_H

#include <sys/types.h>

struct mon_server {
	char *dir;
	char *qmp_path;
	char *hmp_path;
	pid_t pid;
};

/* Starts @server_bin with QMP and HMP sockets in a new temp dir; aborts on failure. */
void mon_server_start(struct mon_server *s, const char *server_bin);
/* Kills (if still running; pid 0: already reaped) and reaps the server, removes the temp dir. Return: its wait status. */
int mon_server_stop(struct mon_server *s);

/* Return: a connected blocking unix socket to @path (retries while the server starts). */
int mon_connect(const char *path);
/* Sends all of @text; aborts on failure. */
void mon_send(int fd, const char *text);
/* Return: 0, or -1 when the server has dropped the connection. */
int mon_try_send(int fd, const char *text);
/*
 * Reads one line (up to "\n", "\r\n" stripped), waiting at most 10 s.
 * Return: the line (g_free), or NULL on EOF/timeout.
 */
char *mon_read_line(int fd);
/* Reads exactly @len bytes within 10 s. Return: them (g_free), or NULL. */
char *mon_read_bytes(int fd, size_t len);
/* Return: TRUE if nothing arrives on @fd within @ms milliseconds. */
int mon_quiet(int fd, int ms);
/* Connects to QMP, checks the greeting, negotiates. */
int mon_qmp_open(const char *path);

/* Reads a line that must be @want (cmocka assertion). */
void mon_expect_line(int fd, const char *want);
/* Reads a line that must be QMP event @name with @data (JSON text, or NULL for none). */
void mon_expect_event(int fd, const char *name, const char *data);

#endif
