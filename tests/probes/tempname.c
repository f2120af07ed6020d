/* Prints the name one temporary-name entry point picks (argv[1]), in the directory argv[2],
 * then removes what it made. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 3)
        return 2;
    const char *what = argv[1], *dir = argv[2];
    char t[4096];
    int fd = -1;
    char *name = t;
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    if (!strcmp(what, "mkstemp")) {
        snprintf(t, sizeof t, "%s/tmpXXXXXX", dir);
        fd = mkstemp(t);
    } else if (!strcmp(what, "mkostemp")) {
        snprintf(t, sizeof t, "%s/tmpXXXXXX", dir);
        fd = mkostemp(t, 0);
    } else if (!strcmp(what, "mkstemps")) {
        snprintf(t, sizeof t, "%s/tmpXXXXXX.s", dir);
        fd = mkstemps(t, 2);
    } else if (!strcmp(what, "mkostemps")) {
        snprintf(t, sizeof t, "%s/tmpXXXXXX.s", dir);
        fd = mkostemps(t, 2, 0);
    } else if (!strcmp(what, "mkdtemp")) {
        snprintf(t, sizeof t, "%s/dirXXXXXX", dir);
        name = mkdtemp(t);
    } else if (!strcmp(what, "mktemp")) {
        snprintf(t, sizeof t, "%s/nameXXXXXX", dir);
        name = mktemp(t);
    } else if (!strcmp(what, "tempnam")) {
        name = tempnam(dir, "pre");
    } else if (!strcmp(what, "tmpnam")) {
        name = tmpnam(NULL);
    } else {
        return 2;
    }
#pragma GCC diagnostic pop
    if (name == NULL || name[0] == 0 || (name == t && fd < 0 && strncmp(what, "mk", 2) == 0 &&
                                         strcmp(what, "mkdtemp") && strcmp(what, "mktemp"))) {
        perror(what);
        return 1;
    }
    printf("%s=%s\n", what, name);
    if (fd >= 0) {
        unlink(name);
        close(fd);
    } else if (!strcmp(what, "mkdtemp")) {
        rmdir(name);
    }
    return 0;
}
