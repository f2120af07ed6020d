/* calls.c - per-call microbenchmarks for bench/run.sh.
 *
 * Usage: calls CASE SECONDS [THREADS] [DIR]
 *        calls populate DIR N        (create N empty files in DIR, for readdir)
 *
 * Runs CASE in a loop for about SECONDS on each of THREADS threads (started
 * together) and prints one machine-readable line:
 *   case=NAME threads=T iters=N ns_per_call=X mean_ns=M mb_per_s=Y
 * The loop runs in timed batches of >= 5 ms. ns_per_call is the fastest batch's
 * time per call as seen by one thread (with T threads calling at the same time):
 * other load on the machine can only make a batch slower, so the fastest batch
 * is the cost of the call itself. mean_ns is the whole run's average.
 * mb_per_s (from ns_per_call) is 0 for cases moving no data.
 *
 * The timer is CLOCK_MONOTONIC read through a raw `syscall` instruction, so an
 * LD_PRELOAD shim (detbuild, libfaketime) cannot skew or slow the timer.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "now.h"

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static volatile uint64_t sink; /* keeps results observable */
static const char *dir_path = ".";

/* One batch of N calls of each case. Returns bytes moved (0 if none). */
typedef uint64_t (*batch_fn)(uint64_t n);

static uint64_t b_realtime(uint64_t n)
{
	struct timespec ts;
	uint64_t acc = 0;
	for (uint64_t i = 0; i < n; i++) {
		clock_gettime(CLOCK_REALTIME, &ts);
		acc += (uint64_t)ts.tv_nsec;
	}
	sink += acc;
	return 0;
}

static uint64_t b_monotonic(uint64_t n)
{
	struct timespec ts;
	uint64_t acc = 0;
	for (uint64_t i = 0; i < n; i++) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		acc += (uint64_t)ts.tv_nsec;
	}
	sink += acc;
	return 0;
}

static uint64_t b_time(uint64_t n)
{
	uint64_t acc = 0;
	for (uint64_t i = 0; i < n; i++)
		acc += (uint64_t)time(NULL);
	sink += acc;
	return 0;
}

static uint64_t b_gettimeofday(uint64_t n)
{
	struct timeval tv;
	uint64_t acc = 0;
	for (uint64_t i = 0; i < n; i++) {
		gettimeofday(&tv, NULL);
		acc += (uint64_t)tv.tv_usec;
	}
	sink += acc;
	return 0;
}

static uint64_t getrandom_n(uint64_t n, size_t len)
{
	static __thread unsigned char buf[65536];
	for (uint64_t i = 0; i < n; i++) {
		size_t got = 0;
		while (got < len) {
			ssize_t r = getrandom(buf + got, len - got, 0);
			if (r < 0 && errno != EINTR)
				die("getrandom");
			if (r > 0)
				got += (size_t)r;
		}
		sink += buf[len - 1];
	}
	return n * len;
}

static uint64_t b_getrandom32(uint64_t n) { return getrandom_n(n, 32); }
static uint64_t b_getrandom64k(uint64_t n) { return getrandom_n(n, 65536); }

/* Read exactly 4 KiB from fd; on EOF (detbuild serves a finite stream) rewind. */
static void read4k(int fd, unsigned char *buf)
{
	size_t got = 0;
	while (got < 4096) {
		ssize_t r = read(fd, buf + got, 4096 - got);
		if (r < 0 && errno != EINTR)
			die("read /dev/urandom");
		if (r == 0 && lseek(fd, 0, SEEK_SET) < 0)
			die("lseek /dev/urandom");
		if (r > 0)
			got += (size_t)r;
	}
	sink += buf[4095];
}

static uint64_t b_urandom_read(uint64_t n)
{
	static __thread int fd = -1;
	unsigned char buf[4096];
	if (fd < 0 && (fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC)) < 0)
		die("open /dev/urandom");
	for (uint64_t i = 0; i < n; i++)
		read4k(fd, buf);
	return n * 4096;
}

static uint64_t b_urandom_open(uint64_t n)
{
	unsigned char buf[4096];
	for (uint64_t i = 0; i < n; i++) {
		int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			die("open /dev/urandom");
		read4k(fd, buf);
		close(fd);
	}
	return n * 4096;
}

static uint64_t b_readdir(uint64_t n)
{
	for (uint64_t i = 0; i < n; i++) {
		DIR *d = opendir(dir_path);
		if (!d)
			die("opendir");
		uint64_t entries = 0;
		struct dirent *e;
		while ((e = readdir(d)) != NULL)
			entries += (uint64_t)e->d_name[0];
		closedir(d);
		sink += entries;
	}
	return 0;
}

static void *noop(void *arg) { return arg; }

/* pthread_create of a thread that returns at once, then pthread_join. */
static uint64_t b_thread_create_join(uint64_t n)
{
	for (uint64_t i = 0; i < n; i++) {
		pthread_t t;
		if (pthread_create(&t, NULL, noop, NULL) != 0 || pthread_join(t, NULL) != 0)
			die("pthread_create");
	}
	return 0;
}

/* fork of a child that _exits at once, then waitpid. */
static uint64_t b_fork_wait(uint64_t n)
{
	for (uint64_t i = 0; i < n; i++) {
		pid_t pid = fork();
		if (pid == 0)
			_exit(0);
		if (pid < 0 || waitpid(pid, NULL, 0) != pid)
			die("fork");
	}
	return 0;
}

static const struct {
	const char *name;
	batch_fn fn;
} cases[] = {
	{ "clock_realtime", b_realtime },   { "clock_monotonic", b_monotonic },
	{ "time", b_time },                 { "gettimeofday", b_gettimeofday },
	{ "getrandom_32", b_getrandom32 },  { "getrandom_64k", b_getrandom64k },
	{ "urandom_read_4k", b_urandom_read }, { "urandom_open_read_close_4k", b_urandom_open },
	{ "readdir_10k", b_readdir },       { "thread_create_join", b_thread_create_join },
	{ "fork_wait", b_fork_wait },
};

struct worker {
	pthread_t tid;
	batch_fn fn;
	uint64_t budget_ns, iters, bytes, elapsed_ns;
	double best_ns; /* fastest batch of >= 5 ms, per call */
};

static pthread_barrier_t start_line;

static void *run_worker(void *arg)
{
	struct worker *w = arg;
	uint64_t batch = 1;
	w->fn(1); /* warm up: lazy init, first-touch, page faults */
	pthread_barrier_wait(&start_line);
	uint64_t t0 = now_ns(), t = t0;
	/* Double the batch until one batch lasts >= 5 ms, so the timer read is
	 * amortized over many calls, then keep going until the budget is used. */
	while (t - t0 < w->budget_ns) {
		uint64_t b0 = t;
		w->bytes += w->fn(batch);
		w->iters += batch;
		t = now_ns();
		if (t - b0 >= 5000000) {
			double per = (double)(t - b0) / (double)batch;
			if (w->best_ns == 0 || per < w->best_ns)
				w->best_ns = per;
		} else if (batch < (1u << 30)) {
			batch *= 2;
		}
	}
	w->elapsed_ns = t - t0;
	if (w->best_ns == 0) /* run too short for a full batch (tiny SECONDS) */
		w->best_ns = (double)w->elapsed_ns / (double)w->iters;
	return NULL;
}

static void populate(const char *dir, long n)
{
	char path[4096];
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		die("mkdir");
	for (long i = 0; i < n; i++) {
		/* Names in a scrambled order so a sorted listing is real work. */
		snprintf(path, sizeof path, "%s/f%08lx", dir, (unsigned long)((i * 7919) % n));
		int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
		if (fd < 0)
			die(path);
		close(fd);
	}
}

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "populate") == 0) {
		populate(argv[2], atol(argv[3]));
		return 0;
	}
	if (argc < 3 || argc > 5) {
		fprintf(stderr, "usage: %s CASE SECONDS [THREADS] [DIR]\n"
				"       %s populate DIR N\ncases:", argv[0], argv[0]);
		for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
			fprintf(stderr, " %s", cases[i].name);
		fputc('\n', stderr);
		return 2;
	}
	batch_fn fn = NULL;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		if (strcmp(argv[1], cases[i].name) == 0)
			fn = cases[i].fn;
	if (!fn) {
		fprintf(stderr, "calls: unknown case '%s' (run without arguments for the list)\n", argv[1]);
		return 2;
	}
	double secs = atof(argv[2]);
	int nthreads = argc > 3 ? atoi(argv[3]) : 1;
	if (argc > 4)
		dir_path = argv[4];
	if (secs <= 0 || nthreads < 1 || nthreads > 64) {
		fprintf(stderr, "calls: SECONDS must be > 0 and THREADS in 1..64\n");
		return 2;
	}

	struct worker w[64];
	memset(w, 0, sizeof w);
	pthread_barrier_init(&start_line, NULL, (unsigned)nthreads);
	for (int i = 0; i < nthreads; i++) {
		w[i].fn = fn;
		w[i].budget_ns = (uint64_t)(secs * 1e9);
		if (pthread_create(&w[i].tid, NULL, run_worker, &w[i]) != 0)
			die("pthread_create");
	}
	uint64_t iters = 0, bytes = 0;
	double ns_sum = 0, best_sum = 0;
	for (int i = 0; i < nthreads; i++) {
		pthread_join(w[i].tid, NULL);
		iters += w[i].iters;
		bytes += w[i].bytes;
		ns_sum += (double)w[i].elapsed_ns / (double)w[i].iters;
		best_sum += w[i].best_ns;
	}
	/* Per-thread cost averaged over threads; throughput summed over threads. */
	double ns_per_call = best_sum / nthreads, mean_ns = ns_sum / nthreads;
	double mb_per_s = bytes ? (double)nthreads * ((double)bytes / (double)iters) / ns_per_call * 1e3 : 0;
	printf("case=%s threads=%d iters=%llu ns_per_call=%.2f mean_ns=%.2f mb_per_s=%.1f\n", argv[1],
	       nthreads, (unsigned long long)iters, ns_per_call, mean_ns, mb_per_s);
	return 0;
}
