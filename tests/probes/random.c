/* Prints bytes from randomness entry points, one `name=hex` line each (see entry_points.h for
 * which). */
#define _GNU_SOURCE
#include <fcntl.h>
#include "entry_points.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <unistd.h>

extern int __open_2(const char *, int);
extern int __open64_2(const char *, int);
extern int __openat_2(int, const char *, int);

static void hex(const char *name, const unsigned char *b, size_t n) {
    printf("%s=", name);
    for (size_t i = 0; i < n; i++)
        printf("%02x", b[i]);
    printf("\n");
}

static void from_fd(const char *name, int fd) {
    unsigned char b[16] = {0};
    if (fd < 0 || read(fd, b, sizeof b) != (ssize_t)sizeof b) {
        printf("%s=error\n", name);
    } else {
        hex(name, b, sizeof b);
    }
    if (fd >= 0)
        close(fd);
}

static void p_getrandom(const char *name) {
    unsigned char b[16];
    if (getrandom(b, sizeof b, 0) == (ssize_t)sizeof b)
        hex(name, b, sizeof b);
    else
        printf("%s=error\n", name);
}

static void p_getentropy(const char *name) {
    unsigned char b[16];
    if (getentropy(b, sizeof b) == 0)
        hex(name, b, sizeof b);
    else
        printf("%s=error\n", name);
}

static void p_arc4random(const char *name) { printf("%s=%08x\n", name, arc4random()); }

static void p_arc4random_buf(const char *name) {
    unsigned char b[16];
    arc4random_buf(b, sizeof b);
    hex(name, b, sizeof b);
}

static void p_arc4random_uniform(const char *name) {
    printf("%s=%u\n", name, arc4random_uniform(1000000));
}

static void p_syscall_getrandom(const char *name) {
    unsigned char b[16];
    if (syscall(SYS_getrandom, b, sizeof b, 0) == (long)sizeof b)
        hex(name, b, sizeof b);
    else
        printf("%s=error\n", name);
}

static void p_open_urandom(const char *name) { from_fd(name, open("/dev/urandom", O_RDONLY)); }
static void p_open_random(const char *name) {
    from_fd(name, open("/dev/random", O_RDONLY | O_CLOEXEC));
}
static void p_openat_urandom(const char *name) {
    from_fd(name, openat(AT_FDCWD, "/dev/urandom", O_RDONLY));
}
static void p_open_2_urandom(const char *name) { from_fd(name, __open_2("/dev/urandom", O_RDONLY)); }
static void p_open64_2_urandom(const char *name) {
    from_fd(name, __open64_2("/dev/urandom", O_RDONLY));
}
static void p_openat_2_urandom(const char *name) {
    from_fd(name, __openat_2(AT_FDCWD, "/dev/urandom", O_RDONLY));
}

static void p_fopen_urandom(const char *name) {
    unsigned char b[16];
    FILE *f = fopen("/dev/urandom", "rb");
    if (f && fread(b, 1, sizeof b, f) == sizeof b)
        hex(name, b, sizeof b);
    else
        printf("%s=error\n", name);
    if (f)
        fclose(f);
}

static void p_uuid(const char *name) {
    char uuid[64] = {0};
    FILE *f = fopen("/proc/sys/kernel/random/uuid", "r");
    if (f && fgets(uuid, sizeof uuid, f))
        printf("%s=%s", name, uuid);
    else
        printf("%s=error\n", name);
    if (f)
        fclose(f);
}

static const struct entry_point entries[] = {
    {"getrandom", p_getrandom},
    {"getentropy", p_getentropy},
    {"arc4random", p_arc4random},
    {"arc4random_buf", p_arc4random_buf},
    {"arc4random_uniform", p_arc4random_uniform},
    {"syscall_getrandom", p_syscall_getrandom},
    {"open_urandom", p_open_urandom},
    {"open_random", p_open_random},
    {"openat_urandom", p_openat_urandom},
    {"open_2_urandom", p_open_2_urandom},
    {"open64_2_urandom", p_open64_2_urandom},
    {"openat_2_urandom", p_openat_2_urandom},
    {"fopen_urandom", p_fopen_urandom},
    {"uuid", p_uuid},
};
ENTRY_POINTS_MAIN(entries)
