/* Fork-and-signal stress: usage `forkstress N`. Two threads call time(), clock_gettime,
 * gettimeofday and getrandom in a loop; an interval timer fires SIGALRM every 50 µs at a
 * handler that calls time() and getrandom; meanwhile the main thread forks N times, cycling
 * through fork(), _Fork() and syscall(SYS_fork). Every child reads the clock and 8 random
 * bytes, sends the bytes back through a pipe and exits; every 100th fork() child also starts
 * and joins a thread. The parent waits for each child in turn.
 *
 * Prints `forks=N failed=F duplicates=D signals_seen=0|1 digest=HEX`: failed counts children
 * that did not exit 0, duplicates counts children whose bytes equal another child's, and the
 * digest (FNV-1a over the children's bytes in fork order) identifies the whole sequence. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile int stop;
static volatile sig_atomic_t signals;

static void on_alarm(int sig) {
    (void)sig;
    int saved = errno;
    unsigned char b[8];
    time(NULL);
    getrandom(b, sizeof b, 0);
    signals++;
    errno = saved;
}

static void *hammer(void *arg) {
    (void)arg;
    unsigned char b[32];
    struct timespec ts;
    struct timeval tv;
    while (!stop) {
        time(NULL);
        clock_gettime(CLOCK_REALTIME, &ts);
        gettimeofday(&tv, NULL);
        getrandom(b, sizeof b, 0);
    }
    return NULL;
}

/* syscall(SYS_fork) through libc's syscall(); clone(SIGCHLD) where there is no SYS_fork. */
static long syscall_fork(void) {
#ifdef SYS_fork
    return syscall(SYS_fork);
#else
    return syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
#endif
}

static void *nothing(void *arg) { return arg; }

static int cmp(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void write_all(int fd, const void *buf, size_t len) {
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            _exit(4);
        buf = (const char *)buf + n;
        len -= (size_t)n;
    }
}

static int read_all(int fd, void *buf, size_t len) {
    while (len > 0) {
        ssize_t n = read(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        buf = (char *)buf + n;
        len -= (size_t)n;
    }
    return 0;
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 3000;
    uint64_t *values = calloc((size_t)n, sizeof *values);
    int fds[2];
    if (!values || pipe(fds) != 0)
        return 2;

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGALRM, &sa, NULL);
    pthread_t threads[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&threads[i], NULL, hammer, NULL);
    struct itimerval every = {{0, 50}, {0, 50}};
    setitimer(ITIMER_REAL, &every, NULL);

    int failed = 0;
    for (int i = 0; i < n; i++) {
        pid_t pid;
        switch (i % 3) {
        case 0: pid = fork(); break;
        case 1: pid = _Fork(); break;
        default: pid = (pid_t)syscall_fork(); break;
        }
        if (pid == 0) {
            uint64_t v;
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            time(NULL);
            getrandom(&v, sizeof v, 0);
            if (i % 300 == 0) {
                pthread_t t;
                if (pthread_create(&t, NULL, nothing, NULL) != 0 || pthread_join(t, NULL) != 0)
                    _exit(5);
            }
            write_all(fds[1], &v, sizeof v);
            _exit(0);
        }
        if (pid < 0) {
            perror("fork");
            return 2;
        }
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
            read_all(fds[0], &values[i], sizeof values[i]) != 0)
            failed++;
    }
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, NULL);
    stop = 1;
    for (int i = 0; i < 2; i++)
        pthread_join(threads[i], NULL);

    uint64_t digest = 0xcbf29ce484222325u;
    for (int i = 0; i < n; i++)
        for (int k = 0; k < 8; k++) {
            digest ^= (values[i] >> (8 * k)) & 0xff;
            digest *= 0x100000001b3u;
        }
    qsort(values, (size_t)n, sizeof *values, cmp);
    int duplicates = 0;
    for (int i = 1; i < n; i++)
        duplicates += values[i] == values[i - 1];
    printf("forks=%d failed=%d duplicates=%d signals_seen=%d digest=%016llx\n", n, failed,
           duplicates, signals > 0, (unsigned long long)digest);
    return 0;
}
