/* Reads 16 bytes from /dev/urandom spelled the way argv[1] says, through descriptor tricks
 * when asked: `dot` (/dev/./urandom), `slashes` (//dev//urandom), `dirfd` (openat on a /dev
 * descriptor), `relative` (chdir /dev, open "urandom"), and `dup`, `dup2`, `fcntl` (read 8 KiB,
 * past what an open prefills, through a duplicate). Prints `name=hex` of the last 16 bytes. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 2)
        return 2;
    const char *how = argv[1];
    int fd = -1;
    if (!strcmp(how, "dot"))
        fd = open("/dev/./urandom", O_RDONLY);
    else if (!strcmp(how, "slashes"))
        fd = open("//dev//urandom", O_RDONLY);
    else if (!strcmp(how, "dirfd")) {
        int dir = open("/dev", O_RDONLY | O_DIRECTORY);
        fd = openat(dir, "urandom", O_RDONLY);
    } else if (!strcmp(how, "relative")) {
        if (chdir("/dev") != 0)
            return 1;
        fd = open("./urandom", O_RDONLY);
    } else {
        int src = open("/dev/urandom", O_RDONLY);
        if (!strcmp(how, "dup"))
            fd = dup(src);
        else if (!strcmp(how, "dup2"))
            fd = dup2(src, 40);
        else if (!strcmp(how, "fcntl"))
            fd = fcntl(src, F_DUPFD_CLOEXEC, 50);
        else
            return 2;
    }
    if (fd < 0) {
        perror(how);
        return 1;
    }
    static unsigned char buf[8192];
    size_t want = strncmp(how, "dup", 3) && strcmp(how, "fcntl") ? 16 : sizeof buf, got = 0;
    while (got < want) {
        ssize_t n = read(fd, buf + got, want - got);
        if (n <= 0) {
            printf("%s=short read after %zu bytes\n", how, got);
            return 0;
        }
        got += (size_t)n;
    }
    printf("%s=", how);
    for (size_t i = want - 16; i < want; i++)
        printf("%02x", buf[i]);
    printf("\n");
    return 0;
}
