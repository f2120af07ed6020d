/* Forked children without exec. The parent reads once, then forks in a fixed order: fork()
 * twice in a row (nothing read in between, so only the fork numbering tells them apart),
 * _Fork(), syscall(SYS_fork), and the forks no hook sees: glibc's clone() without CLONE_VM and
 * an inline fork system call (the parent reads between those two, see below). The first fork()
 * child forks a grandchild. A pthread_atfork child handler reads the clock in fork() children.
 * Each child prints `NAME clock=S.NNNNNNNNN random=HEX clock_ok=0|1` (clock_ok: its first read
 * is not earlier than the parent's last) and exits; the parent waits for each in turn. */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static uint64_t parent_last;

static uint64_t wall(void) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* Reads the clock and 8 random bytes and prints them with write(2) (no stdio buffers to
 * duplicate across forks). */
static void report(const char *name) {
    unsigned char r[8];
    uint64_t c = wall();
    getrandom(r, sizeof r, 0);
    char line[160];
    int n = snprintf(line, sizeof line, "%s clock=%llu.%09llu random=", name,
                     (unsigned long long)(c / 1000000000u), (unsigned long long)(c % 1000000000u));
    for (size_t i = 0; i < sizeof r; i++)
        n += snprintf(line + n, sizeof line - (size_t)n, "%02x", r[i]);
    n += snprintf(line + n, sizeof line - (size_t)n, " clock_ok=%d\n", c >= parent_last);
    if (write(1, line, (size_t)n) != n)
        _exit(3);
    parent_last = c;
}

/* syscall(SYS_fork) through libc's syscall(); clone(SIGCHLD) where there is no SYS_fork. */
static long syscall_fork(void) {
#ifdef SYS_fork
    return syscall(SYS_fork);
#else
    return syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
#endif
}

static void wait_for(pid_t pid) {
    int status;
    if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
        WEXITSTATUS(status) != 0) {
        fprintf(stderr, "child failed\n");
        exit(1);
    }
}

/* fork through a raw system call instruction: no libc, no hook. */
static long inline_fork(void) {
#if defined(__x86_64__)
    long ret;
    __asm__ volatile("syscall" : "=a"(ret) : "0"((long)SYS_fork) : "rcx", "r11", "memory");
    return ret;
#elif defined(__aarch64__)
    register long x8 __asm__("x8") = SYS_clone;
    register long x0 __asm__("x0") = SIGCHLD;
    register long x1 __asm__("x1") = 0, x2 __asm__("x2") = 0, x3 __asm__("x3") = 0,
                  x4 __asm__("x4") = 0;
    __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4) : "memory");
    return x0;
#else
#error "inline_fork: unsupported architecture"
#endif
}

static int clone_child(void *arg) {
    report(arg);
    return 0;
}

static void atfork_child(void) { time(NULL); }

int main(void) {
    pthread_atfork(NULL, NULL, atfork_child);
    report("parent");

    pid_t pid = fork();
    if (pid == 0) {
        report("fork0");
        pid_t g = fork();
        if (g == 0) {
            report("fork0.fork0");
            _exit(0);
        }
        wait_for(g);
        _exit(0);
    }
    wait_for(pid);
    if ((pid = fork()) == 0) {
        report("fork1");
        _exit(0);
    }
    wait_for(pid);
    if ((pid = _Fork()) == 0) {
        report("_Fork");
        _exit(0);
    }
    wait_for(pid);
    if ((pid = (pid_t)syscall_fork()) == 0) {
        report("syscall_fork");
        _exit(0);
    }
    wait_for(pid);

    static char stack[256 * 1024] __attribute__((aligned(16)));
    pid = clone(clone_child, stack + sizeof stack, SIGCHLD, "clone");
    wait_for(pid);
    /* An unseen fork is keyed by where the parent stood; a read sets the next one apart. */
    report("parent_between");
    if ((pid = (pid_t)inline_fork()) == 0) {
        report("inline_fork");
        _exit(0);
    }
    wait_for(pid);
    report("parent_end");
    return 0;
}
