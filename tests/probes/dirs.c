/* Lists the directory argv[1] through every C entry point that reads directories, one
 * `name: entries...` line each: readdir, readdir64_r, telldir/seekdir, rewinddir, scandir
 * without a comparison, scandir with a comparison that calls every name equal, glob with
 * GLOB_NOSORT, fts_open without a comparison, and nftw. */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <fts.h>
#include <ftw.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int skip(const char *n) { return !strcmp(n, ".") || !strcmp(n, ".."); }

static void by_readdir(const char *dir) {
    DIR *d = opendir(dir);
    struct dirent *e;
    printf("readdir:");
    while ((e = readdir(d)))
        if (!skip(e->d_name))
            printf(" %s", e->d_name);
    printf("\n");
    closedir(d);
}

static void by_readdir_r(const char *dir) {
    DIR *d = opendir(dir);
    struct dirent64 buf, *e;
    printf("readdir64_r:");
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    while (readdir64_r(d, &buf, &e) == 0 && e)
#pragma GCC diagnostic pop
        if (!skip(e->d_name))
            printf(" %s", e->d_name);
    printf("\n");
    closedir(d);
}

/* Reads three entries, remembers the position, reads the rest, goes back and reads on; then
 * rewinds and reads the first again. */
static void by_seek(const char *dir) {
    DIR *d = fdopendir(open(dir, O_RDONLY | O_DIRECTORY));
    struct dirent *e;
    for (int i = 0; i < 3; i++)
        readdir(d);
    long at = telldir(d);
    printf("seek:");
    while ((e = readdir(d)))
        printf(" %s", e->d_name);
    seekdir(d, at);
    e = readdir(d);
    printf(" | %s", e ? e->d_name : "(end)");
    rewinddir(d);
    e = readdir(d);
    printf(" | %s\n", e ? e->d_name : "(end)");
    closedir(d);
}

static int no_dots(const struct dirent *e) { return !skip(e->d_name); }
static int all_equal(const struct dirent **a, const struct dirent **b) {
    (void)a, (void)b;
    return 0;
}

static void by_scandir(const char *name, const char *dir,
                       int (*cmp)(const struct dirent **, const struct dirent **)) {
    struct dirent **list;
    int n = scandir(dir, &list, no_dots, cmp);
    printf("%s:", name);
    for (int i = 0; i < n; i++) {
        printf(" %s", list[i]->d_name);
        free(list[i]);
    }
    printf("\n");
    free(list);
}

static void by_glob(const char *dir) {
    char pattern[4096];
    glob_t g;
    snprintf(pattern, sizeof pattern, "%s/*", dir);
    printf("glob:");
    if (glob(pattern, GLOB_NOSORT, NULL, &g) == 0)
        for (size_t i = 0; i < g.gl_pathc; i++)
            printf(" %s", strrchr(g.gl_pathv[i], '/') + 1);
    printf("\n");
    globfree(&g);
}

static void by_fts(const char *dir) {
    char *roots[] = {(char *)dir, NULL};
    FTS *f = fts_open(roots, FTS_PHYSICAL, NULL);
    FTSENT *e;
    printf("fts:");
    while ((e = fts_read(f)))
        if (e->fts_level > 0 && e->fts_info != FTS_DP)
            printf(" %s", e->fts_name);
    printf("\n");
    fts_close(f);
}

static int walk(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag;
    if (ftw->level > 0)
        printf(" %s", path + ftw->base);
    return 0;
}

static void by_nftw(const char *dir) {
    printf("nftw:");
    nftw(dir, walk, 8, FTW_PHYS);
    printf("\n");
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: dirs WHICH|all DIR\n");
        return 2;
    }
    const char *which = argv[1], *dir = argv[2];
    int all = !strcmp(which, "all");
    if (all || !strcmp(which, "readdir"))
        by_readdir(dir);
    if (all || !strcmp(which, "readdir64_r"))
        by_readdir_r(dir);
    if (all || !strcmp(which, "seek"))
        by_seek(dir);
    if (all || !strcmp(which, "scandir"))
        by_scandir("scandir", dir, NULL);
    if (all || !strcmp(which, "scandir_ties"))
        by_scandir("scandir_ties", dir, all_equal);
    if (all || !strcmp(which, "glob"))
        by_glob(dir);
    if (all || !strcmp(which, "fts"))
        by_fts(dir);
    if (all || !strcmp(which, "nftw"))
        by_nftw(dir);
    return 0;
}
