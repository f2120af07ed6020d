/* Lists argv[1] with raw directory reads, a 100-byte buffer at a time (a few records per
 * call): through glibc's getdents64, through syscall(SYS_getdents64), and again after
 * lseek(fd, 0, SEEK_SET). One `name: entries...` line each, without `.` and `..`. */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

struct rec {
    unsigned long long ino;
    long long off;
    unsigned short reclen;
    unsigned char type;
    char name[];
};

static void list(const char *label, int fd, int raw) {
    char buf[100];
    printf("%s:", label);
    for (;;) {
        long n = raw ? syscall(SYS_getdents64, fd, buf, sizeof buf) : getdents64(fd, buf, sizeof buf);
        if (n <= 0)
            break;
        for (long at = 0; at < n;) {
            struct rec *r = (struct rec *)(buf + at);
            if (strcmp(r->name, ".") && strcmp(r->name, ".."))
                printf(" %s", r->name);
            at += r->reclen;
        }
    }
    printf("\n");
}

int main(int argc, char **argv) {
    if (argc != 2)
        return 2;
    int fd = open(argv[1], O_RDONLY | O_DIRECTORY);
    list("getdents64", fd, 0);
    lseek(fd, 0, SEEK_SET);
    list("rewound", fd, 0);
    close(fd);
    fd = open(argv[1], O_RDONLY | O_DIRECTORY);
    list("syscall", fd, 1);
    close(fd);
    return 0;
}
