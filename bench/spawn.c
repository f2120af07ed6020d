/* spawn.c - process start cost for bench/run.sh.
 *
 * Usage: spawn COUNT [VAR=VALUE ...] -- PROG [ARGS...]
 *
 * Starts PROG COUNT times, one after the other, with posix_spawn and waits for
 * each. The child's environment is this process's environment plus the
 * VAR=VALUE words (e.g. LD_PRELOAD=/path/shim.so), so the preload is only in
 * the child: the driver itself runs unshimmed and is not measured. Prints:
 *   case=spawn iters=N us_per_exec=X
 * Timed with a raw CLOCK_MONOTONIC syscall (see calls.c).
 */
#define _GNU_SOURCE
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#include "now.h"

/* Environment for the child: ours, with any VAR overridden by an extra VAR=VALUE. */
static char **child_env(char **extra, int nextra)
{
	size_t n = 0;
	while (environ[n])
		n++;
	char **env = calloc(n + (size_t)nextra + 1, sizeof *env);
	if (!env) {
		perror("calloc");
		exit(1);
	}
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		int overridden = 0;
		for (int j = 0; j < nextra; j++) {
			size_t len = strcspn(extra[j], "=") + 1;
			if (strncmp(environ[i], extra[j], len) == 0)
				overridden = 1;
		}
		if (!overridden)
			env[k++] = environ[i];
	}
	for (int j = 0; j < nextra; j++)
		env[k++] = extra[j];
	env[k] = NULL;
	return env;
}

int main(int argc, char **argv)
{
	int sep = 2;
	while (sep < argc && strcmp(argv[sep], "--") != 0) {
		if (!strchr(argv[sep], '=')) {
			fprintf(stderr, "spawn: '%s' is not VAR=VALUE\n", argv[sep]);
			return 2;
		}
		sep++;
	}
	long count = argc > 1 ? atol(argv[1]) : 0;
	if (count < 1 || sep + 1 >= argc) {
		fprintf(stderr, "usage: %s COUNT [VAR=VALUE ...] -- PROG [ARGS...]\n", argv[0]);
		return 2;
	}
	char **env = child_env(argv + 2, sep - 2);
	char **cargv = argv + sep + 1;

	uint64_t t0 = now_ns();
	for (long i = 0; i < count; i++) {
		pid_t pid;
		int status, err = posix_spawn(&pid, cargv[0], NULL, NULL, cargv, env);
		if (err != 0) {
			fprintf(stderr, "spawn: posix_spawn %s: %s\n", cargv[0], strerror(err));
			return 1;
		}
		if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			fprintf(stderr, "spawn: %s failed (status 0x%x)\n", cargv[0], status);
			return 1;
		}
	}
	double us = (double)(now_ns() - t0) / 1e3 / (double)count;
	printf("case=spawn iters=%ld us_per_exec=%.1f\n", count, us);
	free(env);
	return 0;
}
