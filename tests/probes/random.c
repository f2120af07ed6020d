/* Prints bytes from every randomness entry point, one `name=hex` line each, in a fixed order. */
#define _GNU_SOURCE
#include <fcntl.h>
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

int main(void) {
    unsigned char b[16];
    getrandom(b, sizeof b, 0);
    hex("getrandom", b, sizeof b);
    getentropy(b, sizeof b);
    hex("getentropy", b, sizeof b);
    printf("arc4random=%08x\n", arc4random());
    arc4random_buf(b, sizeof b);
    hex("arc4random_buf", b, sizeof b);
    printf("arc4random_uniform=%u\n", arc4random_uniform(1000000));
    syscall(SYS_getrandom, b, sizeof b, 0);
    hex("syscall_getrandom", b, sizeof b);
    from_fd("open_urandom", open("/dev/urandom", O_RDONLY));
    from_fd("open_random", open("/dev/random", O_RDONLY | O_CLOEXEC));
    from_fd("openat_urandom", openat(AT_FDCWD, "/dev/urandom", O_RDONLY));
    from_fd("open_2_urandom", __open_2("/dev/urandom", O_RDONLY));
    from_fd("open64_2_urandom", __open64_2("/dev/urandom", O_RDONLY));
    from_fd("openat_2_urandom", __openat_2(AT_FDCWD, "/dev/urandom", O_RDONLY));
    FILE *f = fopen("/dev/urandom", "rb");
    if (f && fread(b, 1, sizeof b, f) == sizeof b)
        hex("fopen_urandom", b, sizeof b);
    else
        printf("fopen_urandom=error\n");
    if (f)
        fclose(f);
    char uuid[64] = {0};
    f = fopen("/proc/sys/kernel/random/uuid", "r");
    if (f && fgets(uuid, sizeof uuid, f))
        printf("uuid=%s", uuid);
    else
        printf("uuid=error\n");
    if (f)
        fclose(f);
    return 0;
}
