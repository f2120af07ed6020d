/* Usage: chroot METHOD ROOT... -- PROGRAM ARGS...
 *
 * Enters each ROOT in turn (a later one is a path inside the earlier), then chdir("/"), then
 * starts PROGRAM inside by METHOD and waits for it, exiting with its status.
 *
 * Methods:
 *   chroot  chroot() on each ROOT, then posix_spawnp (a vfork and exec inside the new root)
 *   syscall syscall(SYS_chroot) on each ROOT, then fork and execvp
 *   pivot   ROOT (one) must be a mount point in a private mount namespace: chdir(ROOT),
 *           syscall(SYS_pivot_root, ".", "old"), umount2("/old", MNT_DETACH), then
 *           posix_spawnp */
#define _GNU_SOURCE
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: chroot METHOD ROOT... -- PROGRAM ARGS...\n");
        return 2;
    }
    const char *method = argv[1];
    int i = 2;
    for (; i < argc && strcmp(argv[i], "--") != 0; i++) {
        int r;
        if (strcmp(method, "pivot") == 0) {
            r = chdir(argv[i]);
            if (r == 0)
                r = (int)syscall(SYS_pivot_root, ".", "old");
            if (r == 0)
                r = chdir("/");
            if (r == 0)
                r = umount2("/old", MNT_DETACH);
        } else if (strcmp(method, "syscall") == 0) {
            r = (int)syscall(SYS_chroot, argv[i]);
        } else {
            r = chroot(argv[i]);
        }
        if (r != 0) {
            perror(argv[i]);
            return 2;
        }
    }
    if (i + 1 >= argc || chdir("/") != 0) {
        perror("chdir");
        return 2;
    }
    char **child = argv + i + 1;
    pid_t pid;
    if (strcmp(method, "syscall") == 0) {
        pid = fork();
        if (pid == 0) {
            execvp(child[0], child);
            _exit(127);
        }
    } else if (posix_spawnp(&pid, child[0], NULL, NULL, child, environ) != 0) {
        perror("posix_spawnp");
        return 127;
    }
    int status;
    if (waitpid(pid, &status, 0) != pid)
        return 2;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
