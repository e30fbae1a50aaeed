// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The observer process: reads the heartbeats through its own read-only
 * mapping of guest RAM (the memfd stays the same object across the VMM's
 * exec, so the mapping keeps watching across the update), keeps the longest
 * stall per vCPU and a 1 ms sampled history for the rates. Talks to the
 * bench through a shared anonymous page and a command sequence number.
 */
#include "observer.h"
#include "qmp-client.h"
#include "steer.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define RING_LEN 16384u		/* 1 ms samples: 16 s of history */
#define MAP_LEN (2u << 20)	/* one 2 MiB page covers every heartbeat */

enum obs_cmd { CMD_NONE, CMD_ATTACH, CMD_ARM, CMD_FINISH, CMD_QUIT };

struct sample {
	uint64_t t;
	uint64_t v;
};

struct obs_shared {
	atomic_uint cmd_seq;
	atomic_uint ack_seq;
	int cmd;
	pid_t pid;
	uint64_t arg_ns;
	uint64_t deadline_ns;
	int status; /* 0 or -errno of the last command */
	atomic_bool quiet; /* observer_quiet() */
	char err[256];
	struct obs_result res;
	struct sample ring[OBS_MAX_VCPUS][RING_LEN];
};

struct observer {
	pid_t child;
	struct obs_shared *sh;
	struct obs_config cfg;
};

/* ------------------------------------------------------------ the child */

struct source {
	const volatile uint64_t *map; /* mapped RAM, or NULL with memfd >= 0 */
	int memfd;		      /* /proc/PID/mem for private RAM */
	uint64_t addr;		      /* guest RAM's address in the VMM */
};

static void source_close(struct source *s)
{
	if (s->map)
		munmap((void *)s->map, MAP_LEN);
	if (s->memfd >= 0)
		close(s->memfd);
	s->map = NULL;
	s->memfd = -1;
}

static int map_fd(struct source *s, int fd)
{
	void *p = mmap(NULL, MAP_LEN, PROT_READ, MAP_SHARED, fd, 0);

	if (p == MAP_FAILED)
		return -errno;
	s->map = p;
	return 0;
}

static int open_memfd(struct source *s, pid_t pid, uint64_t size, char *err, size_t errlen)
{
	char dir[64], link[PATH_MAX], target[PATH_MAX];
	struct dirent *de;
	int ret = -ENOENT;
	DIR *d;

	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
	d = opendir(dir);
	if (!d) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return -errno;
	}
	while ((de = readdir(d))) {
		struct stat st;
		ssize_t n;
		int fd;

		if (de->d_name[0] == '.')
			continue;
		snprintf(link, sizeof(link), "%s/%s", dir, de->d_name);
		n = readlink(link, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = 0;
		/* a state-blob's memfd may have the RAM's size: never the guest's RAM */
		if (strncmp(target, "/memfd:", 7) || !strncmp(target, "/memfd:state-blob:", 18))
			continue;
		fd = open(link, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		if (fstat(fd, &st) || (uint64_t)st.st_size != size) {
			close(fd);
			continue;
		}
		ret = map_fd(s, fd);
		close(fd);
		if (ret)
			snprintf(err, errlen, "mmap %.60s (%.100s): %s", link, target, strerror(-ret));
		break;
	}
	closedir(d);
	if (ret == -ENOENT)
		snprintf(err, errlen, "no memfd of %" PRIu64 " bytes in %s", size, dir);
	return ret;
}

static int open_path(struct source *s, const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int ret;

	if (fd < 0) {
		snprintf(err, errlen, "%.180s: %s", path, strerror(errno));
		return -errno;
	}
	ret = map_fd(s, fd);
	close(fd);
	if (ret)
		snprintf(err, errlen, "mmap %.180s: %s", path, strerror(-ret));
	return ret;
}

/* Private RAM: the smallest anonymous writable mapping that holds it. */
static int open_procmem(struct source *s, pid_t pid, uint64_t size, char *err, size_t errlen)
{
	char path[64], line[512];
	uint64_t best = 0, best_len = UINT64_MAX;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	f = fopen(path, "re");
	if (!f) {
		snprintf(err, errlen, "%.180s: %s", path, strerror(errno));
		return -errno;
	}
	while (fgets(line, sizeof(line), f)) {
		unsigned long long a, b, off;
		char perms[8];
		int name = 0;

		if (sscanf(line, "%llx-%llx %7s %llx %*s %*s %n", &a, &b, perms, &off, &name) < 4)
			continue;
		if (perms[0] != 'r' || perms[1] != 'w')
			continue;
		if (name && line[name] && line[name] != '\n')
			continue;
		if (b - a >= size && b - a < best_len) {
			best = a;
			best_len = b - a;
		}
	}
	fclose(f);
	if (!best) {
		snprintf(err, errlen, "no anonymous mapping of %" PRIu64 " bytes in %s", size, path);
		return -ENOENT;
	}
	snprintf(path, sizeof(path), "/proc/%d/mem", (int)pid);
	s->memfd = open(path, O_RDONLY | O_CLOEXEC);
	if (s->memfd < 0) {
		snprintf(err, errlen, "%.180s: %s", path, strerror(errno));
		return -errno;
	}
	s->addr = best;
	return 0;
}

static int open_source(struct source *s, const struct obs_config *cfg, pid_t pid,
		       char *err, size_t errlen)
{
	if (cfg->source == OBS_SRC_MEMFD)
		return open_memfd(s, pid, cfg->ram_size, err, errlen);
	if (cfg->source == OBS_SRC_PATH)
		return open_path(s, cfg->path, err, errlen);
	return open_procmem(s, pid, cfg->ram_size, err, errlen);
}

static inline int read_beats(const struct source *s, unsigned n, uint64_t *out)
{
	if (s->map) {
		for (unsigned i = 0; i < n; i++)
			out[i] = s->map[(OBS_HEARTBEAT_BASE + OBS_HEARTBEAT_STRIDE * i) / 8];
		return 0;
	}
	uint64_t buf[OBS_MAX_VCPUS * OBS_HEARTBEAT_STRIDE / 8];
	size_t len = (size_t)n * OBS_HEARTBEAT_STRIDE;

	if (pread(s->memfd, buf, len, (off_t)(s->addr + OBS_HEARTBEAT_BASE)) != (ssize_t)len)
		return -EIO;
	for (unsigned i = 0; i < n; i++)
		out[i] = buf[i * OBS_HEARTBEAT_STRIDE / 8];
	return 0;
}

/* The value a vCPU's counter had at @t, from the 1 ms history. */
static const struct sample *sample_at(const struct sample *ring, uint64_t count, uint64_t t)
{
	uint64_t first = count > RING_LEN ? count - RING_LEN : 0;
	const struct sample *best = &ring[first % RING_LEN];

	for (uint64_t k = count; k-- > first;) {
		if (ring[k % RING_LEN].t <= t)
			return &ring[k % RING_LEN];
	}
	return best;
}

static double rate_between(const struct sample *ring, uint64_t count, uint64_t a, uint64_t b)
{
	const struct sample *sa = sample_at(ring, count, a);
	const struct sample *sb = sample_at(ring, count, b);

	if (sb->t <= sa->t)
		return 0;
	return (double)(sb->v - sa->v) * 1e9 / (double)(sb->t - sa->t);
}

/*
 * The first time from @end on where the rate over the next
 * OBS_RECOVER_WINDOW_MS reaches OBS_RECOVER_PERCENT of @before, searched
 * in 1 ms steps (the history's) up to @end + @win.
 */
static uint64_t recover_after(const struct sample *ring, uint64_t count, uint64_t end,
			      uint64_t win, double before)
{
	const uint64_t w = OBS_RECOVER_WINDOW_MS * 1000000ull;

	if (before <= 0)
		return OBS_NOT_RECOVERED;
	for (uint64_t t = end; t + w <= end + win; t += 1000000ull) {
		if (rate_between(ring, count, t, t + w) * 100.0 >= before * OBS_RECOVER_PERCENT)
			return t - end;
	}
	return OBS_NOT_RECOVERED;
}

static void ack(struct obs_shared *sh, unsigned seq, int status)
{
	sh->status = status;
	atomic_store_explicit(&sh->ack_seq, seq, memory_order_release);
}

static void observer_loop(struct obs_shared *sh, const struct obs_config *cfg)
{
	struct source src = { .map = NULL, .memfd = -1 };
	unsigned n = cfg->vcpus, seen_seq = 0;
	uint64_t last[OBS_MAX_VCPUS] = { 0 }, last_t[OBS_MAX_VCPUS] = { 0 };
	uint64_t moved_since[OBS_MAX_VCPUS] = { 0 };
	uint64_t beats[OBS_MAX_VCPUS];
	double base[OBS_MAX_VCPUS] = { 0 }; /* rate_base */
	uint64_t count = 0, next_sample = 0, arm_t = UINT64_MAX;
	uint64_t win = (uint64_t)cfg->rate_window_ms * 1000000ull;
	uint64_t attach_t = 0;
	uint64_t last_any_t = 0; /* the last increment of any vCPU */
	bool moved_any;
	bool first_source = true; /* no counter value seen yet */
	int pending = CMD_NONE; /* command waiting for a condition */
	unsigned pending_seq = 0;
	struct obs_result *res = &sh->res;
	struct steer st;

	steer_init(&st, cfg->cpu >= 0);
	for (;;) {
		uint64_t now = bench_now_ns();
		unsigned seq = atomic_load_explicit(&sh->cmd_seq, memory_order_acquire);

		if (seq != seen_seq) {
			seen_seq = seq;
			switch (sh->cmd) {
			case CMD_QUIT:
				steer_close(&st);
				source_close(&src);
				ack(sh, seq, 0);
				return;
			case CMD_ATTACH: {
				struct source ns = { .map = NULL, .memfd = -1 };
				int r = open_source(&ns, cfg, sh->pid, sh->err, sizeof(sh->err));

				if (r == 0)
					r = read_beats(&ns, n, beats);
				if (r) {
					source_close(&ns);
					ack(sh, seq, r);
					break;
				}
				bool first = !src.map && src.memfd < 0 && first_source;

				source_close(&src);
				src = ns;
				steer_watch(&st, sh->pid);
				for (unsigned i = 0; i < n; i++) {
					/*
					 * A new source may show zeros (or the old value)
					 * until the state is loaded: only counting up counts.
					 */
					if (first) {
						last[i] = beats[i];
						last_t[i] = now;
					}
					moved_since[i] = 0;
				}
				if (first)
					last_any_t = now;
				pending = CMD_ATTACH;
				pending_seq = seq;
				attach_t = now;
				break;
			}
			case CMD_ARM:
				arm_t = now;
				memset(res, 0, sizeof(*res));
				res->vcpus = n;
				ack(sh, seq, 0);
				break;
			case CMD_FINISH:
				pending = CMD_FINISH;
				pending_seq = seq;
				break;
			}
		}

		if (!src.map && src.memfd < 0) {
			usleep(1000);
			continue;
		}
		if (atomic_load_explicit(&sh->quiet, memory_order_relaxed)) {
			/* Commands and the 1 ms history go on; nothing else needs the CPU. */
			struct timespec ts = { 0, 1000000 };

			nanosleep(&ts, NULL);
		} else if (cfg->sleep_us) {
			struct timespec ts = { 0, (long)cfg->sleep_us * 1000 };

			nanosleep(&ts, NULL);
		}
		if (read_beats(&src, n, beats)) {
			/* The VMM went away (normal mode): wait for a new source. */
			source_close(&src);
			continue;
		}
		now = bench_now_ns();
		moved_any = false;
		for (unsigned i = 0; i < n; i++) {
			if (beats[i] <= last[i])
				continue;
			moved_any = true;
			if (now >= arm_t) {
				uint64_t gap = now - last_t[i];

				if (gap > res->v[i].stall_ns) {
					res->v[i].stall_ns = gap;
					res->v[i].stall_start_ns = last_t[i];
					res->v[i].stall_end_ns = now;
				}
			}
			last[i] = beats[i];
			last_t[i] = now;
			moved_since[i]++;
		}
		/* A stall of two sleeps: the VMM's main thread is at work alone. */
		if (moved_any)
			steer_back(&st);
		else if (cfg->sleep_us && now >= arm_t && last_any_t &&
			 now - last_any_t > 2000ull * cfg->sleep_us)
			steer_away(&st);
		if (moved_any) {
			if (now >= arm_t && last_any_t && now - last_any_t > res->vm_stall_ns)
				res->vm_stall_ns = now - last_any_t;
			last_any_t = now;
		}
		if (now >= next_sample) {
			for (unsigned i = 0; i < n; i++)
				sh->ring[i][count % RING_LEN] = (struct sample){ now, last[i] };
			count++;
			next_sample = now + 1000000ull;
		}

		if (pending == CMD_ATTACH) {
			unsigned moved = 0;

			for (unsigned i = 0; i < n; i++)
				moved += moved_since[i] >= 2;
			if (moved == n) {
				first_source = false;
				pending = CMD_NONE;
				ack(sh, pending_seq, 0);
			} else if (now - attach_t > 500000000ull) {
				/*
				 * Nothing moves: the VMM may have been building its
				 * RAM when we looked. Look again.
				 */
				struct source ns = { .map = NULL, .memfd = -1 };

				if (!open_source(&ns, cfg, sh->pid, sh->err, sizeof(sh->err)) &&
				    !read_beats(&ns, n, beats)) {
					source_close(&src);
					src = ns;
					for (unsigned i = 0; i < n && first_source; i++)
						last[i] = beats[i];
				} else {
					source_close(&ns);
				}
				attach_t = now;
			}
			if (pending == CMD_ATTACH && now > sh->deadline_ns) {
				pending = CMD_NONE;
				snprintf(sh->err, sizeof(sh->err),
					 "%u of %u heartbeats did not move", n - moved, n);
				ack(sh, pending_seq, -ETIMEDOUT);
			}
		} else if (pending == CMD_FINISH) {
			bool done = true;
			uint64_t end = 0;

			for (unsigned i = 0; i < n; i++) {
				if (last_t[i] <= sh->arg_ns)
					done = false;
				if (res->v[i].stall_end_ns > end)
					end = res->v[i].stall_end_ns;
			}
			if (done && now >= end + win) {
				res->pause_ns = 0;
				for (unsigned i = 0; i < n; i++) {
					struct obs_vcpu_result *v = &res->v[i];

					if (v->stall_ns > res->pause_ns)
						res->pause_ns = v->stall_ns;
					v->rate_before = rate_between(sh->ring[i], count,
								      v->stall_start_ns - win,
								      v->stall_start_ns);
					v->rate_after = rate_between(sh->ring[i], count,
								     v->stall_end_ns,
								     v->stall_end_ns + win);
					if (!base[i])
						base[i] = v->rate_before;
					v->rate_base = base[i];
					v->recover_ns = recover_after(sh->ring[i], count,
								      v->stall_end_ns, win,
								      v->rate_base);
				}
				arm_t = UINT64_MAX;
				pending = CMD_NONE;
				ack(sh, pending_seq, 0);
			} else if (now > sh->deadline_ns) {
				unsigned stuck = 0;

				for (unsigned i = 0; i < n; i++)
					stuck += last_t[i] <= sh->arg_ns;
				snprintf(sh->err, sizeof(sh->err),
					 "%u of %u heartbeats did not move after the resume", stuck, n);
				arm_t = UINT64_MAX;
				pending = CMD_NONE;
				ack(sh, pending_seq, -ETIMEDOUT);
			}
		}
	}
}

/* ------------------------------------------------------------ the bench */

static int ms_until(uint64_t deadline)
{
	uint64_t now = bench_now_ns();

	return now >= deadline ? 1 : (int)((deadline - now) / 1000000ull) + 1;
}

static gboolean command(struct observer *o, int cmd, int timeout_ms, GError **errp)
{
	struct obs_shared *sh = o->sh;
	unsigned seq = atomic_load(&sh->cmd_seq) + 1;
	uint64_t deadline = bench_now_ns() + (uint64_t)timeout_ms * 1000000ull;

	sh->cmd = cmd;
	sh->deadline_ns = deadline;
	sh->err[0] = 0;
	atomic_store_explicit(&sh->cmd_seq, seq, memory_order_release);
	/* The observer enforces the deadline; a second's grace covers its reply. */
	while (atomic_load_explicit(&sh->ack_seq, memory_order_acquire) != seq) {
		int st;

		if (waitpid(o->child, &st, WNOHANG) == o->child) {
			o->child = -1;
			g_set_error(errp, G_IO_ERROR, G_IO_ERROR_FAILED, "the observer died");
			return FALSE;
		}
		if (bench_now_ns() > deadline + 1000000000ull) {
			g_set_error(errp, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
				    "the observer does not answer");
			return FALSE;
		}
		g_usleep(200);
	}
	if (sh->status) {
		g_set_error(errp, G_IO_ERROR, g_io_error_from_errno(-sh->status),
			    "observer: %s", sh->err[0] ? sh->err : g_strerror(-sh->status));
		return FALSE;
	}
	return TRUE;
}

struct observer *observer_start(const struct obs_config *cfg, GError **errp)
{
	struct observer *o;
	void *p;

	if (cfg->vcpus < 1 || cfg->vcpus > OBS_MAX_VCPUS) {
		g_set_error(errp, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			    "the observer watches 1 to %d vCPUs, not %u", OBS_MAX_VCPUS, cfg->vcpus);
		return NULL;
	}
	p = mmap(NULL, sizeof(struct obs_shared), PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		g_set_error(errp, G_IO_ERROR, g_io_error_from_errno(errno),
			    "observer memory: %s", g_strerror(errno));
		return NULL;
	}
	o = g_new0(struct observer, 1);
	o->sh = p;
	o->cfg = *cfg;
	fflush(NULL);
	o->child = fork();
	if (o->child < 0) {
		g_set_error(errp, G_IO_ERROR, g_io_error_from_errno(errno),
			    "fork: %s", g_strerror(errno));
		munmap(p, sizeof(struct obs_shared));
		g_free(o);
		return NULL;
	}
	if (o->child == 0) {
		if (cfg->cpu >= 0) {
			cpu_set_t set;

			CPU_ZERO(&set);
			CPU_SET(cfg->cpu, &set);
			sched_setaffinity(0, sizeof(set), &set);
		}
		/*
		 * Busy vCPUs that outnumber the host's CPUs would keep the
		 * observer off the CPU for whole time slices, and it would
		 * see the end of a stall late. At a real-time priority it
		 * runs as soon as its sleep ends; it sleeps between reads, so
		 * it takes little from the guest. Not in a tight loop, which
		 * would take a CPU for good.
		 */
		if (cfg->sleep_us &&
		    sched_setscheduler(0, SCHED_FIFO, &(struct sched_param){ .sched_priority = 1 }))
			fprintf(stderr, "relive-bench: the observer stays at normal priority (%s): "
				"with more busy vCPUs than CPUs it sees stalls end late\n",
				g_strerror(errno));
		observer_loop(o->sh, &o->cfg);
		_exit(0);
	}
	return o;
}

gboolean observer_attach(struct observer *o, pid_t pid, int timeout_ms, GError **errp)
{
	uint64_t deadline = bench_now_ns() + (uint64_t)timeout_ms * 1000000ull;
	GError *err = NULL;

	/* The VMM may not have created its RAM yet: retry the opening. */
	for (;;) {
		o->sh->pid = pid;
		if (command(o, CMD_ATTACH, ms_until(deadline), &err))
			return TRUE;
		if (bench_now_ns() >= deadline || err->code == G_IO_ERROR_TIMED_OUT ||
		    o->child < 0) {
			g_propagate_error(errp, err);
			return FALSE;
		}
		g_clear_error(&err);
		g_usleep(5000);
	}
}

gboolean observer_arm(struct observer *o, GError **errp)
{
	return command(o, CMD_ARM, 1000, errp);
}

gboolean observer_finish(struct observer *o, uint64_t resumed_ns, int timeout_ms,
			 struct obs_result *res, GError **errp)
{
	o->sh->arg_ns = resumed_ns;
	if (!command(o, CMD_FINISH, timeout_ms + (int)o->cfg.rate_window_ms, errp))
		return FALSE;
	*res = o->sh->res;
	return TRUE;
}

void observer_stop(struct observer *o)
{
	if (!o)
		return;
	if (o->child > 0) {
		if (!command(o, CMD_QUIT, 1000, NULL))
			kill(o->child, SIGKILL);
		if (o->child > 0)
			waitpid(o->child, NULL, 0);
	}
	munmap(o->sh, sizeof(struct obs_shared));
	g_free(o);
}

pid_t observer_pid(const struct observer *o)
{
	return o ? o->child : -1;
}

void observer_quiet(struct observer *o, bool quiet)
{
	if (o)
		atomic_store_explicit(&o->sh->quiet, quiet, memory_order_relaxed);
}
