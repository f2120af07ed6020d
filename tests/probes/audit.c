/* The audit's process shapes: the parent reads the wall clock once, a forked child twice and
 * leaves by _exit, a vfork child execs /bin/true, another vfork child only _exits, then the
 * parent tries to exec a missing program and execs `echo`. Prints each child's pid. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void read_clock(int n) {
    struct timespec ts;
    for (int i = 0; i < n; i++)
        clock_gettime(CLOCK_REALTIME, &ts);
}

int main(void) {
    read_clock(1);
    pid_t child = fork();
    if (child == 0) {
        read_clock(2);
        _exit(0);
    }
    waitpid(child, NULL, 0);
    printf("fork=%d\n", child);
    pid_t exec_child = vfork();
    if (exec_child == 0) {
        char *argv[] = {"true", NULL};
        execv("/bin/true", argv);
        _exit(127);
    }
    waitpid(exec_child, NULL, 0);
    printf("vfork_exec=%d\n", exec_child);
    pid_t exit_child = vfork();
    if (exit_child == 0)
        _exit(3);
    waitpid(exit_child, NULL, 0);
    printf("vfork_exit=%d\n", exit_child);
    printf("parent=%d\n", getpid());
    fflush(stdout);
    char *missing[] = {"missing", NULL};
    execv("/nonexistent/program", missing);
    char *echo[] = {"echo", "done", NULL};
    execv("/bin/echo", echo);
    return 1;
}
