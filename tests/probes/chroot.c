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
 *           posix_spawnp
 *   clobber chroot(), then what daemons and careful builders do to descriptors they did not
 *           open: close() of 3..1099, dup2() onto 1000 and 1001 (then closed), closefrom(3);
 *           then posix_spawnp
 *   system  chroot(), then system(PROGRAM) (PROGRAM is a shell command)
 *   popen   chroot(), then popen(PROGRAM), copying its output to stdout */
#define _GNU_SOURCE
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
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
    if (strcmp(method, "clobber") == 0) {
        for (int fd = 3; fd < 1100; fd++)
            close(fd);
        if (dup2(2, 1000) != 1000 || dup2(2, 1001) != 1001) {
            perror("dup2");
            return 2;
        }
        close(1000);
        close(1001);
        closefrom(3);
    }
    if (strcmp(method, "system") == 0) {
        int status = system(child[0]);
        return WIFEXITED(status) ? WEXITSTATUS(status) : 2;
    }
    if (strcmp(method, "popen") == 0) {
        FILE *f = popen(child[0], "r");
        if (!f)
            return 2;
        char buf[4096];
        size_t n;
        while ((n = fread(buf, 1, sizeof buf, f)) > 0)
            fwrite(buf, 1, n, stdout);
        int status = pclose(f);
        return WIFEXITED(status) ? WEXITSTATUS(status) : 2;
    }
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
