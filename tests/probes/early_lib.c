/* A library whose constructor uses the clock, randomness, a thread and a fork before the
 * preloaded shim's constructor has run (the loader runs a program's own libraries' constructors
 * first). It keeps what it saw for early.c to print. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

long long early_time;
struct timespec early_clock;
unsigned char early_random[8], early_thread_random[8], early_fork_random[8];
char early_key[80];

static void *in_thread(void *arg) {
    (void)arg;
    getrandom(early_thread_random, sizeof early_thread_random, 0);
    return NULL;
}

__attribute__((constructor)) static void early(void) {
    const char *key = getenv("DETBUILD_KEY");
    strncpy(early_key, key ? key : "unset", sizeof early_key - 1);
    early_time = (long long)time(NULL);
    clock_gettime(CLOCK_REALTIME, &early_clock);
    getrandom(early_random, sizeof early_random, 0);
    pthread_t t;
    if (pthread_create(&t, NULL, in_thread, NULL) == 0)
        pthread_join(t, NULL);
    int fds[2];
    if (pipe(fds) != 0)
        return;
    pid_t pid = fork();
    if (pid == 0) {
        unsigned char b[8];
        getrandom(b, sizeof b, 0);
        _exit(write(fds[1], b, sizeof b) == sizeof b ? 0 : 1);
    }
    if (pid > 0) {
        waitpid(pid, NULL, 0);
        if (read(fds[0], early_fork_random, sizeof early_fork_random) != sizeof early_fork_random)
            memset(early_fork_random, 0, sizeof early_fork_random);
    }
    close(fds[0]);
    close(fds[1]);
}
