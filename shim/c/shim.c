/*
 * The two things detbuild's shim needs that stable no_std Rust cannot express:
 *
 * 1. Thread-local storage. Each thread's logical clock, stream position and key live in one
 *    initial-exec TLS block (zero-initialised, no destructor, never allocates), handed to Rust
 *    as a pointer by detbuild_thread(). Rust owns the layout (shim/src/thread.rs).
 * 2. The byte-wise FTSENT comparison for fts_open (shim/src/dirwalk.rs): <fts.h> knows the
 *    layout of FTSENT, which the libc crate does not describe.
 * 3. C-variadic entry points: execl, execle, execlp. They gather their arguments into a stack
 *    array (no heap: they may run in a vfork child) and call execve/execvp, which resolve to the
 *    shim's own hooks, so every exec path gets the same environment repair.
 */
#include <fts.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#define HIDDEN __attribute__((visibility("hidden")))
#define EXPORT __attribute__((visibility("default")))

static __thread _Alignas(64) unsigned char thread_block[256];

HIDDEN void *detbuild_thread(void) { return thread_block; }

HIDDEN size_t detbuild_thread_size(void) { return sizeof thread_block; }

/* Rust's precompiled `core` refers to the unwinder's personality routine even under
 * panic=abort (debug builds keep the reference). Nothing ever unwinds here. Hidden, so the
 * reference resolves inside the library and no program that looks the name up (rustc's
 * panic machinery does) ever finds this empty one. */
HIDDEN void rust_eh_personality(void) {}

/* Byte-wise (strcmp) order of two fts entries' names. Roots compare equal, so they keep the
 * caller's order in glibc's stable qsort. FTSENT64 has the same layout on 64-bit targets. */
HIDDEN int detbuild_fts_bytewise(const FTSENT **a, const FTSENT **b) {
    if ((*a)->fts_level == FTS_ROOTLEVEL || (*b)->fts_level == FTS_ROOTLEVEL)
        return 0;
    return strcmp((*a)->fts_name, (*b)->fts_name);
}

extern char **environ;

/* Counts the arguments after `first` up to the terminating NULL. */
static size_t count_args(const char *first, va_list ap) {
    size_t n = 1;
    if (first == NULL)
        return 0;
    while (va_arg(ap, const char *) != NULL)
        n++;
    return n;
}

#define GATHER(argv, first, ap, n)                                            \
    do {                                                                      \
        argv[0] = (char *)(first);                                            \
        for (size_t i_ = 1; i_ < (n); i_++)                                   \
            argv[i_] = va_arg(ap, char *);                                    \
        argv[n] = NULL;                                                       \
    } while (0)

EXPORT int execl(const char *path, const char *arg, ...) {
    va_list ap, cp;
    va_start(ap, arg);
    va_copy(cp, ap);
    size_t n = count_args(arg, cp);
    va_end(cp);
    char *argv[n + 1];
    GATHER(argv, arg, ap, n);
    va_end(ap);
    return execve(path, argv, environ);
}

EXPORT int execlp(const char *file, const char *arg, ...) {
    va_list ap, cp;
    va_start(ap, arg);
    va_copy(cp, ap);
    size_t n = count_args(arg, cp);
    va_end(cp);
    char *argv[n + 1];
    GATHER(argv, arg, ap, n);
    va_end(ap);
    return execvp(file, argv);
}

EXPORT int execle(const char *path, const char *arg, ...) {
    va_list ap, cp;
    va_start(ap, arg);
    va_copy(cp, ap);
    size_t n = count_args(arg, cp);
    va_end(cp);
    char *argv[n + 1];
    GATHER(argv, arg, ap, n);
    if (n > 0) /* skip the NULL that ended the arguments (when arg was not itself NULL) */
        (void)va_arg(ap, char *);
    char *const *envp = va_arg(ap, char *const *);
    va_end(ap);
    return execve(path, argv, envp);
}
