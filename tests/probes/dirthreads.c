/* Lists argv[1] from four threads at once, 300 times each, while the main thread forks
 * children that list it too; prints one line per thread with how many listings were in
 * byte-wise order, and the children's count. Never prints entry names. */
#define _GNU_SOURCE
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define ROUNDS 300

static const char *dir;

/* 1 if one listing of `dir` came in strcmp order, 0 if not, -1 on error. */
static int sorted_once(void) {
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    char prev[256] = "";
    int ok = 1, n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (n++ && strcmp(prev, e->d_name) >= 0)
            ok = 0;
        snprintf(prev, sizeof prev, "%s", e->d_name);
    }
    closedir(d);
    return n > 2 ? ok : -1;
}

static void *lister(void *arg) {
    long sorted = 0;
    for (int i = 0; i < ROUNDS; i++)
        sorted += sorted_once() == 1;
    *(long *)arg = sorted;
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 2)
        return 2;
    dir = argv[1];
    pthread_t t[4];
    long sorted[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, lister, &sorted[i]);
    int children_ok = 0;
    for (int i = 0; i < 50; i++) {
        pid_t pid = fork();
        if (pid == 0)
            _exit(sorted_once() == 1 ? 0 : 1);
        int status;
        waitpid(pid, &status, 0);
        children_ok += WIFEXITED(status) && WEXITSTATUS(status) == 0;
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        printf("thread%d sorted=%ld/%d\n", i, sorted[i], ROUNDS);
    }
    printf("children sorted=%d/50\n", children_ok);
    return 0;
}
