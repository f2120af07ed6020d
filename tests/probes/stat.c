/* `stat FUNCTION PATH...`: reads each PATH's status through one entry point of the stat family
 * and prints `atime=S.N mtime=S.N ctime=S.N uid=U gid=G [btime=S.N] dev=D ino=I` on one line per
 * PATH. The __xstat family is what
 * programs built against glibc before 2.33 import; glibc still exports it. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

extern int __xstat(int, const char *, struct stat *);
extern int __lxstat(int, const char *, struct stat *);
extern int __fxstat(int, int, struct stat *);
extern int __fxstatat(int, int, const char *, struct stat *, int);
extern int __xstat64(int, const char *, struct stat64 *);
extern int __lxstat64(int, const char *, struct stat64 *);
extern int __fxstat64(int, int, struct stat64 *);
extern int __fxstatat64(int, int, const char *, struct stat64 *, int);

#define VER 1 /* _STAT_VER_LINUX on x86_64; 0 (_STAT_VER_KERNEL) elsewhere is accepted too */

static int by_name(const char *f, const char *path, struct stat *st) {
    struct stat64 *st64 = (struct stat64 *)st; /* the same layout on 64-bit targets */
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_PATH);
    int r = -2;
    if (!strcmp(f, "stat")) r = stat(path, st);
    else if (!strcmp(f, "lstat")) r = lstat(path, st);
    else if (!strcmp(f, "fstat")) r = fstat(open(path, O_RDONLY), st);
    else if (!strcmp(f, "fstatat")) r = fstatat(AT_FDCWD, path, st, 0);
    else if (!strcmp(f, "fstatat_empty")) r = fstatat(fd, "", st, AT_EMPTY_PATH);
    else if (!strcmp(f, "stat64")) r = stat64(path, st64);
    else if (!strcmp(f, "lstat64")) r = lstat64(path, st64);
    else if (!strcmp(f, "fstat64")) r = fstat64(open(path, O_RDONLY), st64);
    else if (!strcmp(f, "fstatat64")) r = fstatat64(AT_FDCWD, path, st64, AT_SYMLINK_NOFOLLOW);
    else if (!strcmp(f, "__xstat")) r = __xstat(VER, path, st);
    else if (!strcmp(f, "__lxstat")) r = __lxstat(VER, path, st);
    else if (!strcmp(f, "__fxstat")) r = __fxstat(VER, open(path, O_RDONLY), st);
    else if (!strcmp(f, "__fxstatat")) r = __fxstatat(VER, AT_FDCWD, path, st, 0);
    else if (!strcmp(f, "__xstat64")) r = __xstat64(VER, path, st64);
    else if (!strcmp(f, "__lxstat64")) r = __lxstat64(VER, path, st64);
    else if (!strcmp(f, "__fxstat64")) r = __fxstat64(VER, open(path, O_RDONLY), st64);
    else if (!strcmp(f, "__fxstatat64")) r = __fxstatat64(VER, AT_FDCWD, path, st64, 0);
    else if (!strcmp(f, "statx")) {
        struct statx sx;
        r = statx(AT_FDCWD, path, 0, STATX_BASIC_STATS | STATX_BTIME, &sx);
        if (r == 0) {
            printf("atime=%lld.%09u mtime=%lld.%09u ctime=%lld.%09u uid=%u gid=%u",
                   (long long)sx.stx_atime.tv_sec, sx.stx_atime.tv_nsec,
                   (long long)sx.stx_mtime.tv_sec, sx.stx_mtime.tv_nsec,
                   (long long)sx.stx_ctime.tv_sec, sx.stx_ctime.tv_nsec, sx.stx_uid, sx.stx_gid);
            if (sx.stx_mask & STATX_BTIME)
                printf(" btime=%lld.%09u", (long long)sx.stx_btime.tv_sec, sx.stx_btime.tv_nsec);
            printf(" dev=%llu ino=%llu\n",
                   (unsigned long long)makedev(sx.stx_dev_major, sx.stx_dev_minor),
                   (unsigned long long)sx.stx_ino);
            return 1;
        }
    }
    return r;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: stat FUNCTION PATH...\n");
        return 2;
    }
    for (int i = 2; i < argc; i++) {
        struct stat st;
        int r = by_name(argv[1], argv[i], &st);
        if (r == 1) continue;
        if (r == -2) {
            fprintf(stderr, "unknown function %s\n", argv[1]);
            return 2;
        }
        if (r != 0) {
            perror(argv[1]);
            return 1;
        }
        printf("atime=%lld.%09ld mtime=%lld.%09ld ctime=%lld.%09ld uid=%u gid=%u dev=%llu ino=%llu\n",
               (long long)st.st_atim.tv_sec, st.st_atim.tv_nsec, (long long)st.st_mtim.tv_sec,
               st.st_mtim.tv_nsec, (long long)st.st_ctim.tv_sec, st.st_ctim.tv_nsec, st.st_uid,
               st.st_gid, (unsigned long long)st.st_dev, (unsigned long long)st.st_ino);
    }
    return 0;
}
