// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Client helpers for the monitor socket tests: spawning monitor-server in a
 * mkdtemp dir, connecting, reading lines with a deadline.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <cmocka.h>

#include "monitor-client.h"

#define DEADLINE_MS 10000

static void die(const char *what)
{
	fprintf(stderr, "monitor-client: %s: %s\n", what, strerror(errno));
	abort();
}

void mon_server_start(struct mon_server *s, const char *server_bin)
{
	g_autofree char *qmp = NULL, *hmp = NULL;
	char tmpl[] = "/tmp/relive-monitor-XXXXXX";

	if (!mkdtemp(tmpl))
		die("mkdtemp");
	s->dir = g_strdup(tmpl);
	s->qmp_path = g_build_filename(s->dir, "qmp.sock", NULL);
	s->hmp_path = g_build_filename(s->dir, "hmp.sock", NULL);
	qmp = g_strdup_printf("unix:%s,server=on,wait=off", s->qmp_path);
	hmp = g_strdup_printf("unix:%s,server,nowait", s->hmp_path);
	s->pid = fork();
	if (s->pid < 0)
		die("fork");
	if (!s->pid) {
		/* A test that aborts must not leave its server behind. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		execl(server_bin, server_bin, qmp, hmp, (char *)NULL);
		_exit(127);
	}
}

int mon_server_stop(struct mon_server *s)
{
	int status = 0;

	if (s->pid > 0 && waitpid(s->pid, &status, WNOHANG) == 0) {
		kill(s->pid, SIGKILL);
		waitpid(s->pid, &status, 0);
	}
	unlink(s->qmp_path);
	unlink(s->hmp_path);
	rmdir(s->dir);
	g_free(s->dir);
	g_free(s->qmp_path);
	g_free(s->hmp_path);
	return status;
}

int mon_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	g_strlcpy(sa.sun_path, path, sizeof(sa.sun_path));
	for (int i = 0; i < DEADLINE_MS / 10; i++) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

		if (fd < 0)
			die("socket");
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			return fd;
		close(fd);
		g_usleep(10000);
	}
	die(path);
	return -1;
}

int mon_try_send(int fd, const char *text)
{
	size_t len = strlen(text);

	while (len) {
		ssize_t n = send(fd, text, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		text += n;
		len -= n;
	}
	return 0;
}

void mon_send(int fd, const char *text)
{
	if (mon_try_send(fd, text) < 0)
		die("send");
}

static int wait_readable(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, ms) == 1;
}

char *mon_read_line(int fd)
{
	GString *s = g_string_new(NULL);
	char c;

	for (;;) {
		if (!wait_readable(fd, DEADLINE_MS) || read(fd, &c, 1) != 1) {
			g_string_free(s, TRUE);
			return NULL;
		}
		if (c == '\n')
			break;
		g_string_append_c(s, c);
	}
	if (s->len && s->str[s->len - 1] == '\r')
		g_string_truncate(s, s->len - 1);
	return g_string_free(s, FALSE);
}

char *mon_read_bytes(int fd, size_t len)
{
	char *buf = g_malloc0(len + 1);
	size_t got = 0;

	while (got < len) {
		ssize_t n;

		if (!wait_readable(fd, DEADLINE_MS))
			break;
		n = read(fd, buf + got, len - got);
		if (n <= 0)
			break;
		got += n;
	}
	if (got < len) {
		g_free(buf);
		return NULL;
	}
	return buf;
}

int mon_quiet(int fd, int ms)
{
	return !wait_readable(fd, ms);
}

int mon_qmp_open(const char *path)
{
	int fd = mon_connect(path);
	g_autofree char *greeting = mon_read_line(fd);
	g_autofree char *ret = NULL;

	if (!greeting || !g_str_has_prefix(greeting, "{\"QMP\": {\"version\": "))
		die("greeting");
	mon_send(fd, "{\"execute\": \"qmp_capabilities\"}\n");
	ret = mon_read_line(fd);
	if (!ret || strcmp(ret, "{\"return\": {}}"))
		die("qmp_capabilities");
	return fd;
}

void mon_expect_line(int fd, const char *want)
{
	g_autofree char *l = mon_read_line(fd);

	assert_non_null(l);
	assert_string_equal(l, want);
}

void mon_expect_event(int fd, const char *name, const char *data)
{
	g_autofree char *l = mon_read_line(fd);
	g_autofree char *tail = data ?
		g_strdup_printf("}, \"event\": \"%s\", \"data\": %s}", name, data) :
		g_strdup_printf("}, \"event\": \"%s\"}", name);

	assert_non_null(l);
	assert_true(g_str_has_prefix(l, "{\"timestamp\": {\"seconds\": "));
	assert_non_null(strstr(l, "\"microseconds\": "));
	assert_true(g_str_has_suffix(l, tail));
}
