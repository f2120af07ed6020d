/* Walks argv[1] with nftw under several flag sets, and with ftw, printing one line per
 * callback: `FLAGS PATH TYPEFLAG base=B level=L` (and the working directory's last component
 * under FTW_CHDIR). A directory named `skip` answers FTW_SKIP_SUBTREE under
 * FTW_ACTIONRETVAL, and one named `stop` answers FTW_STOP. With FTW_MTIME set in the
 * environment each line also carries the callback's ` mtime=SECONDS`. */
#define _GNU_SOURCE
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int current;

static void line(const char *path, const struct stat *st, int flag, const struct FTW *f) {
    printf("%d %s %d", current, path, flag);
    if (getenv("FTW_MTIME") && flag != FTW_NS)
        printf(" mtime=%lld", (long long)st->st_mtime);
    if (f)
        printf(" base=%d level=%d", f->base, f->level);
    if (current & FTW_CHDIR) {
        char cwd[4096];
        if (getcwd(cwd, sizeof cwd))
            printf(" cwd=%s", strrchr(cwd, '/') + 1);
    }
    printf("\n");
}

static int walk(const char *path, const struct stat *st, int flag, struct FTW *f) {
    line(path, st, flag, f);
    if (current & FTW_ACTIONRETVAL) {
        const char *base = path + f->base;
        if (!strcmp(base, "skip"))
            return FTW_SKIP_SUBTREE;
        if (!strcmp(base, "stop"))
            return FTW_STOP;
    }
    return 0;
}

static int old_walk(const char *path, const struct stat *st, int flag) {
    line(path, st, flag, NULL);
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: ftw DIR\n");
        return 2;
    }
    const int sets[] = {0, FTW_PHYS, FTW_DEPTH, FTW_PHYS | FTW_DEPTH, FTW_CHDIR | FTW_PHYS,
                        FTW_MOUNT, FTW_ACTIONRETVAL | FTW_PHYS};
    for (size_t i = 0; i < sizeof sets / sizeof *sets; i++) {
        current = sets[i];
        int r = nftw(argv[1], walk, 4, current);
        printf("%d returned %d\n", current, r);
    }
    current = 0;
    printf("ftw returned %d\n", ftw(argv[1], old_walk, 4));
    printf("bad flags returned %d\n", nftw(argv[1], walk, 4, 1 << 10));
    return 0;
}
