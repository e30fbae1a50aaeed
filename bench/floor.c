// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The floor of a cpr-exec update (floor.h) and `relive-bench floor`, which
 * prints it. Every part is timed apart, in one sample after the other, so
 * that host load hits them alike; the floor of a sample is the sum of its
 * parts, and the floor printed is the median of those sums.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/close_range.h>
#include <linux/kvm.h>

#include "bench.h"
#include "exec-timing.h"
#include "floor.h"

/* As relive-vm places them (vm/machine/cpus.c, memory.h). */
#define FLOOR_TSS_GPA 0xfffbd000ull
#define FLOOR_IDMAP_GPA 0xfffbc000ull
#define FLOOR_RAM_BELOW_4G 0xf0000000ull
#define FLOOR_RAM_ABOVE_4G_GPA (4ull << 30)

static const char *const part_names[FLOOR_NPARTS] = {
	[FLOOR_TRAMP_EXEC] = "trampoline-exec",
	[FLOOR_TRAMP] = "trampoline",
	[FLOOR_VM_EXEC] = "vm-size-exec",
	[FLOOR_RAM_MAPPED] = "ram-mapped",
	[FLOOR_VM_CREATED] = "vm-created",
	[FLOOR_SLOTS] = "memory-slots",
	[FLOOR_VCPUS] = "vcpus-created",
};

struct floor {
	struct floor_cfg cfg;
	char *trampoline, *probe_vm;
	int ram_fd;
	struct rl_cpr_state *st;	/* the state relive-trampoline checks */
	int state_fd;
	char **envp;			/* ours, with RL_CPR_ENV naming the state */
	GArray *part[FLOOR_NPARTS + 1];	/* double, µs; the last: the sums */
};

const char *floor_part_name(enum floor_part part)
{
	return part < FLOOR_NPARTS ? part_names[part] : "floor";
}

bool floor_part_measured(const struct floor *f, enum floor_part part)
{
	return f->cfg.kvm || (part != FLOOR_VM_CREATED && part != FLOOR_SLOTS);
}

unsigned floor_samples(const struct floor *f)
{
	return f->part[FLOOR_NPARTS]->len;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Interpolated like the pause's quantiles (samples_pause_quantile). */
double floor_quantile(const struct floor *f, enum floor_part part, double q)
{
	const GArray *a = f->part[part];
	g_autofree double *v = NULL;
	unsigned n = a->len, lo;
	double pos;

	if (!n)
		return NAN;
	v = g_memdup2(a->data, n * sizeof(double));
	qsort(v, n, sizeof(double), cmp_double);
	pos = q * (n - 1);
	lo = (unsigned)pos;
	if (lo + 1 >= n)
		return v[n - 1];
	return v[lo] + (pos - lo) * (v[lo + 1] - v[lo]);
}

void floor_free(struct floor *f)
{
	if (!f)
		return;
	if (f->ram_fd >= 0)
		close(f->ram_fd);
	exec_timing_state_free(f->st, f->state_fd);
	g_strfreev(f->envp);
	for (int i = 0; i <= FLOOR_NPARTS; i++)
		if (f->part[i])
			g_array_unref(f->part[i]);
	g_free(f->trampoline);
	g_free(f->probe_vm);
	g_free(f);
}

struct floor *floor_new(const struct floor_cfg *cfg, char **why)
{
	struct floor *f = g_new0(struct floor, 1);
	int err;

	f->cfg = *cfg;
	f->ram_fd = f->state_fd = -1;
	for (int i = 0; i <= FLOOR_NPARTS; i++)
		f->part[i] = g_array_new(FALSE, FALSE, sizeof(double));
	f->trampoline = cfg->trampoline ? g_strdup(cfg->trampoline) :
		find_tool("trampoline", "relive-trampoline");
	f->probe_vm = cfg->probe_vm ? g_strdup(cfg->probe_vm) :
		find_tool("bench", "relive-exec-probe-vm");
	f->cfg.trampoline = f->trampoline;
	f->cfg.probe_vm = f->probe_vm;
	if (!f->trampoline || access(f->trampoline, X_OK) ||
	    !f->probe_vm || access(f->probe_vm, X_OK)) {
		*why = g_strdup_printf("cannot find %s (build it, or give its path)",
				       !f->trampoline || access(f->trampoline, X_OK) ?
				       "relive-trampoline" : "relive-exec-probe-vm");
		goto fail;
	}
	if (cfg->kvm && access("/dev/kvm", R_OK | W_OK)) {
		*why = g_strdup_printf("/dev/kvm: %s", g_strerror(errno));
		goto fail;
	}
	/* Not preserved across our execs: the floor's probe has no use for it. */
	f->ram_fd = memfd_create("floor-ram", MFD_CLOEXEC);
	if (f->ram_fd < 0 || ftruncate(f->ram_fd, cfg->ram) < 0) {
		*why = g_strdup_printf("RAM memfd of %" G_GUINT64_FORMAT " bytes: %s", cfg->ram,
				       g_strerror(errno));
		goto fail;
	}
	if (cfg->populate && fallocate(f->ram_fd, 0, 0, cfg->ram) < 0) {
		*why = g_strdup_printf("populating the RAM memfd: %s", g_strerror(errno));
		goto fail;
	}
	/* An update's state has about this many fds: the RAM, the monitors, the blob. */
	if ((err = exec_timing_state(8, &f->st, &f->state_fd)) < 0) {
		*why = g_strdup_printf("the CPR state for relive-trampoline: %s", g_strerror(-err));
		goto fail;
	}
	/* Only our execs get it: a VMM the bench starts must not take it for its own. */
	f->envp = g_get_environ();
	unsetenv(RL_CPR_ENV);
	return f;
fail:
	floor_free(f);
	return NULL;
}

/* The vCPU threads of -accel thread: created, then parked until told to go. */
static void *parked_thread(void *arg)
{
	char c;

	while (read(*(int *)arg, &c, 1) < 0 && errno == EINTR)
		;
	return NULL;
}

/*
 * In the child before the exec: only the state and its fds go through, as
 * from a VMM; any other fd of ours would be a stray the trampoline reports.
 */
static int keep_state_fds(void *arg)
{
	const struct floor *f = arg;

	if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) < 0 || fcntl(f->state_fd, F_SETFD, 0) < 0)
		return -1;
	for (unsigned i = 0; i < rl_cpr_fd_count(f->st); i++)
		if (fcntl(rl_cpr_fd_at(f->st, i, NULL, NULL), F_SETFD, 0) < 0)
			return -1;
	return 0;
}

/* The exec parts: trampoline -- probe of relive-vm's size. */
static int sample_exec(struct floor *f, double *us)
{
	char *argv[] = { f->trampoline, "--", f->probe_vm, NULL };
	struct timed t;
	int ret = timed_exec(argv, f->envp, NULL, NULL, keep_state_fds, f, &t);

	if (ret < 0)
		return ret;
	if (!t.to_tramp_ns)
		return -EIO; /* the probe saw no trampoline timestamps */
	us[FLOOR_TRAMP_EXEC] = t.to_tramp_ns / 1e3;
	us[FLOOR_TRAMP] = t.tramp_ns / 1e3;
	us[FLOOR_VM_EXEC] = (t.total_ns - t.to_tramp_ns - t.tramp_ns) / 1e3;
	return 0;
}

static int kvm_slot(int vm_fd, unsigned slot, uint64_t gpa, uint64_t size, void *host)
{
	struct kvm_userspace_memory_region r = {
		.slot = slot, .guest_phys_addr = gpa, .memory_size = size,
		.userspace_addr = (uintptr_t)host,
	};

	return ioctl(vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0 ? -errno : 0;
}

/* The KVM parts, as relive-vm's new process does them after a cpr-exec. */
static int sample_kvm(struct floor *f, void *ram, double *us)
{
	int kvm_fd, vm_fd = -1, run_size, ret = 0;
	int vcpu_fd[SCENARIO_MAX_VCPUS];
	void *run[SCENARIO_MAX_VCPUS];
	unsigned made = 0;
	uint64_t t0, t1;

	t0 = rl_cpr_now_ns();
	kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm_fd < 0)
		return -errno;
	vm_fd = ioctl(kvm_fd, KVM_CREATE_VM, 0);
	if (vm_fd < 0 || ioctl(vm_fd, KVM_SET_TSS_ADDR, FLOOR_TSS_GPA) < 0 ||
	    ioctl(vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &(uint64_t){ FLOOR_IDMAP_GPA }) < 0) {
		ret = -errno;
		goto out;
	}
	run_size = ioctl(kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	t1 = rl_cpr_now_ns();
	us[FLOOR_VM_CREATED] = (t1 - t0) / 1e3;

	t0 = t1;
	ret = kvm_slot(vm_fd, 0, 0, MIN(f->cfg.ram, FLOOR_RAM_BELOW_4G), ram);
	if (!ret && f->cfg.ram > FLOOR_RAM_BELOW_4G)
		ret = kvm_slot(vm_fd, 1, FLOOR_RAM_ABOVE_4G_GPA, f->cfg.ram - FLOOR_RAM_BELOW_4G,
			       (char *)ram + FLOOR_RAM_BELOW_4G);
	if (ret)
		goto out;
	t1 = rl_cpr_now_ns();
	us[FLOOR_SLOTS] = (t1 - t0) / 1e3;

	t0 = t1;
	for (; made < f->cfg.vcpus; made++) {
		vcpu_fd[made] = ioctl(vm_fd, KVM_CREATE_VCPU, made);
		if (vcpu_fd[made] < 0) {
			ret = -errno;
			goto out;
		}
		run[made] = mmap(NULL, run_size, PROT_READ | PROT_WRITE, MAP_SHARED,
				 vcpu_fd[made], 0);
		if (run[made] == MAP_FAILED) {
			ret = -errno;
			close(vcpu_fd[made]);
			goto out;
		}
	}
	us[FLOOR_VCPUS] = (rl_cpr_now_ns() - t0) / 1e3;
out:
	while (made--) {
		munmap(run[made], run_size);
		close(vcpu_fd[made]);
	}
	if (vm_fd >= 0)
		close(vm_fd);
	close(kvm_fd);
	return ret;
}

/* -accel thread: the vCPU threads are what replaces the VM and its vCPUs. */
static int sample_threads(struct floor *f, double *us)
{
	pthread_t th[SCENARIO_MAX_VCPUS];
	unsigned made = 0;
	int go[2], ret = 0;
	uint64_t t0;

	if (pipe2(go, O_CLOEXEC) < 0)
		return -errno;
	t0 = rl_cpr_now_ns();
	for (; made < f->cfg.vcpus; made++) {
		char name[16];

		ret = -pthread_create(&th[made], NULL, parked_thread, &go[0]);
		if (ret)
			break;
		snprintf(name, sizeof(name), "vcpu%u", made);
		pthread_setname_np(th[made], name);
	}
	us[FLOOR_VCPUS] = (rl_cpr_now_ns() - t0) / 1e3;
	close(go[1]);
	while (made--)
		pthread_join(th[made], NULL);
	close(go[0]);
	return ret;
}

int floor_sample(struct floor *f)
{
	double us[FLOOR_NPARTS] = { 0 }, sum = 0;
	uint64_t t0;
	void *ram;
	int ret;

	if ((ret = sample_exec(f, us)) < 0)
		return ret;
	/* As the new relive-vm maps it after a cpr-exec: shared, not populated. */
	t0 = rl_cpr_now_ns();
	ram = mmap(NULL, f->cfg.ram, PROT_READ | PROT_WRITE, MAP_SHARED, f->ram_fd, 0);
	if (ram == MAP_FAILED)
		return -errno;
	us[FLOOR_RAM_MAPPED] = (rl_cpr_now_ns() - t0) / 1e3;
	ret = f->cfg.kvm ? sample_kvm(f, ram, us) : sample_threads(f, us);
	munmap(ram, f->cfg.ram);
	if (ret < 0)
		return ret;
	for (int i = 0; i < FLOOR_NPARTS; i++) {
		if (!floor_part_measured(f, i))
			continue;
		g_array_append_val(f->part[i], us[i]);
		sum += us[i];
	}
	g_array_append_val(f->part[FLOOR_NPARTS], sum);
	return 0;
}

JsonObject *floor_json(const struct floor *f)
{
	JsonObject *o = json_object_new(), *parts = json_object_new();

	json_object_set_int_member(o, "samples", floor_samples(f));
	json_object_set_string_member(o, "accel", f->cfg.kvm ? "kvm" : "thread");
	json_object_set_string_member(o, "vm-size-binary", f->probe_vm);
	json_object_set_double_member(o, "median-us", floor_quantile(f, FLOOR_NPARTS, 0.5));
	json_object_set_double_member(o, "p90-us", floor_quantile(f, FLOOR_NPARTS, 0.9));
	for (int i = 0; i < FLOOR_NPARTS; i++) {
		JsonObject *p;

		if (!floor_part_measured(f, i))
			continue;
		p = json_object_new();
		json_object_set_double_member(p, "median-us", floor_quantile(f, i, 0.5));
		json_object_set_double_member(p, "p90-us", floor_quantile(f, i, 0.9));
		json_object_set_object_member(parts, part_names[i], p);
	}
	json_object_set_object_member(o, "parts", parts);
	return o;
}

/* ------------------------------------------------------- pause --floor */

struct floor *floor_for_scenario(const struct pause_opts *o, const struct scenario *sc,
				 char **why)
{
	/*
	 * Not populated: the new process maps the RAM without populating it,
	 * so the timed parts do not depend on it, and a populated copy would
	 * double the RAM the scenario takes.
	 */
	struct floor_cfg cfg = {
		.trampoline = o->trampoline_path, .kvm = !strcmp(o->accel, "kvm"),
		.ram = sc->ram, .vcpus = sc->vcpus, .populate = false,
	};

	return floor_new(&cfg, why);
}

void floor_cells(FILE *out, const struct scenario *sc)
{
	double fl = NAN, pause = samples_pause_quantile(sc, 0.5);

	if (sc->floor && json_object_has_member(sc->floor, "median-us"))
		fl = json_object_get_double_member(sc->floor, "median-us") / 1e3;
	if (isnan(fl)) {
		fprintf(out, " %6s %7s", "-", "-");
		return;
	}
	fprintf(out, " %6.2f %7.2f", fl, pause / fl);
}

/* ----------------------------------------------------- relive-bench floor */

static void print_part(const struct floor *f, enum floor_part part, const char *what)
{
	if (part < FLOOR_NPARTS && !floor_part_measured(f, part)) {
		printf("  %-16s %10s %10s   %s\n", floor_part_name(part), "-", "-",
		       access("/dev/kvm", R_OK | W_OK) ? "no /dev/kvm" : "not with --accel thread");
		return;
	}
	printf("  %-16s %10.1f %10.1f   %s\n", floor_part_name(part),
	       floor_quantile(f, part, 0.5), floor_quantile(f, part, 0.9), what);
}

int bench_floor(int argc, char **argv)
{
	static const char *const what[FLOOR_NPARTS] = {
		[FLOOR_TRAMP_EXEC] = "exec of relive-trampoline, to its entry",
		[FLOOR_TRAMP] = "inside relive-trampoline (entry -> exec)",
		[FLOOR_VM_EXEC] = "exec of a static binary of relive-vm's size",
		[FLOOR_RAM_MAPPED] = "mmap of the guest RAM memfd",
		[FLOOR_VM_CREATED] = "KVM_CREATE_VM, TSS and identity map",
		[FLOOR_SLOTS] = "KVM_SET_USER_MEMORY_REGION",
		[FLOOR_VCPUS] = "vCPUs (KVM_CREATE_VCPU + kvm_run mmap, or threads)",
	};
	int runs = 200, vcpus = 1, ret = 1, err;
	char *ram_s = NULL, *accel = NULL, *tramp = NULL, *probe = NULL, *why = NULL;
	gboolean cold = FALSE, json = FALSE;
	GOptionEntry entries[] = {
		{ "runs", 'n', 0, G_OPTION_ARG_INT, &runs, "samples (200)", "N" },
		{ "ram", 0, 0, G_OPTION_ARG_STRING, &ram_s, "guest RAM memfd size (1G)", "SIZE" },
		{ "vcpus", 0, 0, G_OPTION_ARG_INT, &vcpus, "vCPUs, 1 to 16 (1)", "N" },
		{ "accel", 0, 0, G_OPTION_ARG_STRING, &accel,
		  "kvm or thread (kvm where /dev/kvm opens)", "ACCEL" },
		{ "cold", 0, 0, G_OPTION_ARG_NONE, &cold,
		  "leave the RAM memfd unpopulated (populated by default, as a warm guest's)", NULL },
		{ "json", 0, 0, G_OPTION_ARG_NONE, &json, "print the summary as JSON", NULL },
		{ "trampoline", 0, 0, G_OPTION_ARG_FILENAME, &tramp, "relive-trampoline", "PATH" },
		{ "probe-vm", 0, 0, G_OPTION_ARG_FILENAME, &probe,
		  "static exec target of relive-vm's size (build/bench/relive-exec-probe-vm)", "PATH" },
		{ NULL },
	};
	GOptionContext *ctx = g_option_context_new("- time the floor of a cpr-exec update");
	struct floor_cfg cfg = { 0 };
	struct floor *f = NULL;
	uint64_t ram = 1ull << 30;
	GError *gerr = NULL;
	char sz[32];

	g_option_context_add_main_entries(ctx, entries, NULL);
	g_option_context_set_description(ctx,
		"Times, sample after sample, what a cpr-exec update cannot do without on this\n"
		"host: the exec of relive-trampoline, its own work, the exec of a static binary\n"
		"as large as relive-vm, mapping the RAM, creating the VM, its memory slots and\n"
		"vCPUs. Prints the median and p90 of each part in us and of their sum, the floor.\n"
		"See docs/bench.md.");
	if (!g_option_context_parse(ctx, &argc, &argv, &gerr)) {
		fprintf(stderr, "relive-bench floor: %s\n", gerr->message);
		ret = 2;
		goto out;
	}
	if ((ram_s && rl_size_parse(ram_s, 1, &ram) < 0) || !ram) {
		fprintf(stderr, "relive-bench floor: --ram: '%s' is not a size (e.g. 256M, 1G)\n",
			ram_s ? ram_s : "");
		ret = 2;
		goto out;
	}
	if (runs < 1 || vcpus < 1 || vcpus > SCENARIO_MAX_VCPUS) {
		fprintf(stderr, "relive-bench floor: %s %d is out of range (%s)\n",
			runs < 1 ? "--runs" : "--vcpus", runs < 1 ? runs : vcpus,
			runs < 1 ? "at least 1" : "1 to " G_STRINGIFY(SCENARIO_MAX_VCPUS));
		ret = 2;
		goto out;
	}
	if (accel && strcmp(accel, "kvm") && strcmp(accel, "thread")) {
		fprintf(stderr, "relive-bench floor: --accel: kvm or thread, not '%s'\n", accel);
		ret = 2;
		goto out;
	}
	cfg = (struct floor_cfg){
		.trampoline = tramp, .probe_vm = probe, .ram = ram, .vcpus = vcpus,
		.populate = !cold,
		.kvm = accel ? !strcmp(accel, "kvm") : !access("/dev/kvm", R_OK | W_OK),
	};
	/* Inherited fds would be strays for the trampoline to report every run. */
	close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
	if (!(f = floor_new(&cfg, &why))) {
		fprintf(stderr, "relive-bench floor: %s\n", why);
		goto out;
	}
	for (int i = 0; i < runs; i++)
		if ((err = floor_sample(f)) < 0) {
			fprintf(stderr, "relive-bench floor: sample %d: %s (run `%s --check -v` "
				"by hand to see the trampoline's view)\n", i, g_strerror(-err),
				f->trampoline);
			goto out;
		}
	if (json) {
		g_autoptr(JsonGenerator) g = json_generator_new();
		g_autoptr(JsonNode) n = json_node_new(JSON_NODE_OBJECT);
		g_autofree char *s = NULL;

		json_node_take_object(n, floor_json(f));
		json_generator_set_root(g, n);
		json_generator_set_pretty(g, TRUE);
		s = json_generator_to_data(g, NULL);
		printf("%s\n", s);
		ret = 0;
		goto out;
	}
	printf("relive-bench floor: %d samples, %s RAM memfd (%s), %d vCPU(s), accel %s\n",
	       runs, rl_size_format(ram, RL_SIZE_SHORT, sz, sizeof(sz)),
	       cfg.populate ? "populated" : "not populated", vcpus, cfg.kvm ? "kvm" : "thread");
	printf("  %-16s %10s %10s\n", "part", "median us", "p90 us");
	for (int i = 0; i < FLOOR_NPARTS; i++)
		print_part(f, i, what[i]);
	print_part(f, FLOOR_NPARTS, "the sum of each sample's parts");
	ret = 0;
out:
	floor_free(f);
	g_free(why);
	g_free(ram_s);
	g_free(accel);
	g_free(tramp);
	g_free(probe);
	g_clear_error(&gerr);
	g_option_context_free(ctx);
	return ret;
}
