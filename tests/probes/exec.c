/* Usage: exec METHOD CHILD [COUNT]
 *
 * Prints `parent=<time()>`, then starts CHILD (tests/probes/exec_child.c) through METHOD with
 * detbuild's variables stripped, the way builds strip them: an empty envp for the functions
 * that take one, clearenv() for those that use environ. The `p` variants find CHILD by its
 * base name through PATH, set to CHILD's directory. Fork-style methods start it COUNT times
 * (default 1) and wait for each; exec-style ones replace this process.
 *
 * Methods: execve execv execvp execvpe execl execle execlp execveat fexecve posix_spawn
 * posix_spawnp system popen fork vfork preload (execve with only LD_PRELOAD=libm.so.6). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <libgen.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static char *empty[] = {NULL};

static int wait_for(pid_t pid) {
    int status;
    if (pid < 0 || waitpid(pid, &status, 0) != pid)
        return 1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

/* PATH = CHILD's directory, so the `p` variants find it by name. */
static void path_to(const char *child) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", child);
    setenv("PATH", dirname(dir), 1);
}

static int start(const char *m, char *child, char *name) {
    char *argv[] = {name, "arg", NULL};
    pid_t pid = -1;
    if (!strcmp(m, "posix_spawn")) {
        int err = posix_spawn(&pid, child, NULL, NULL, argv, empty);
        return err ? err : wait_for(pid);
    }
    if (!strcmp(m, "posix_spawnp")) {
        path_to(child);
        int err = posix_spawnp(&pid, name, NULL, NULL, argv, empty);
        return err ? err : wait_for(pid);
    }
    if (!strcmp(m, "system")) {
        clearenv();
        return system(child) == 0 ? 0 : 1;
    }
    if (!strcmp(m, "popen")) {
        clearenv();
        FILE *f = popen(child, "r");
        if (!f)
            return 1;
        char line[256];
        while (fgets(line, sizeof line, f))
            fputs(line, stdout);
        return pclose(f) == 0 ? 0 : 1;
    }
    if (!strcmp(m, "fork")) {
        pid = fork();
        if (pid == 0) {
            execve(child, argv, empty);
            _exit(127);
        }
        return wait_for(pid);
    }
    if (!strcmp(m, "vfork")) {
        pid = vfork();
        if (pid == 0) {
            execve(child, argv, empty);
            _exit(127);
        }
        return wait_for(pid);
    }
    if (!strcmp(m, "preload")) {
        char *env[] = {"LD_PRELOAD=libm.so.6", NULL};
        execve(child, argv, env);
    } else if (!strcmp(m, "execve")) {
        execve(child, argv, empty);
    } else if (!strcmp(m, "execv")) {
        clearenv();
        execv(child, argv);
    } else if (!strcmp(m, "execvp")) {
        clearenv();
        path_to(child);
        execvp(name, argv);
    } else if (!strcmp(m, "execvpe")) {
        path_to(child);
        execvpe(name, argv, empty);
    } else if (!strcmp(m, "execl")) {
        clearenv();
        execl(child, name, "arg", (char *)NULL);
    } else if (!strcmp(m, "execle")) {
        execle(child, name, "arg", (char *)NULL, empty);
    } else if (!strcmp(m, "execlp")) {
        clearenv();
        path_to(child);
        execlp(name, name, "arg", (char *)NULL);
    } else if (!strcmp(m, "execveat")) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s", child);
        int fd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        execveat(fd, name, argv, empty, 0);
    } else if (!strcmp(m, "fexecve")) {
        int fd = open(child, O_RDONLY | O_CLOEXEC);
        fexecve(fd, argv, empty);
    } else {
        fprintf(stderr, "exec: unknown method %s\n", m);
        return 2;
    }
    perror(m);
    return 127;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: exec METHOD CHILD [COUNT]\n");
        return 2;
    }
    printf("parent=%lld\n", (long long)time(NULL));
    fflush(stdout);
    int count = argc > 3 ? atoi(argv[3]) : 1;
    char name[4096];
    snprintf(name, sizeof name, "%s", argv[2]);
    char *base = basename(name);
    for (int i = 0; i < count; i++) {
        int rc = start(argv[1], argv[2], base);
        fflush(stdout);
        if (rc != 0)
            return rc;
    }
    return 0;
}
