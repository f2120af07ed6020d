/* A program with its own allocator that reads the wall clock on every call (as allocators
 * that timestamp or seed themselves do; the monotonic read passes through to libc): malloc, free, calloc, realloc and the aligned
 * variants, over a bump arena. The dynamic loader, libc and the shim's own setup call it too.
 * Then it uses threads, a fork and stdio, and prints `calls_seen=1 main_time=S child_time=S
 * thread_time=S` (calls_seen: the allocator really was used). */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static _Alignas(64) unsigned char arena[64 << 20];
static size_t used;
static unsigned long calls;

static void *bump(size_t size, size_t align) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    clock_gettime(CLOCK_MONOTONIC, &ts);
    __atomic_add_fetch(&calls, 1, __ATOMIC_RELAXED);
    if (align < 16)
        align = 16;
    for (;;) {
        size_t old = __atomic_load_n(&used, __ATOMIC_RELAXED);
        size_t start = (old + 16 + align - 1) & ~(align - 1);
        if (start + size > sizeof arena) {
            errno = ENOMEM;
            return NULL;
        }
        if (__atomic_compare_exchange_n(&used, &old, start + size, 0, __ATOMIC_RELAXED,
                                        __ATOMIC_RELAXED)) {
            memcpy(arena + start - sizeof size, &size, sizeof size);
            return arena + start;
        }
    }
}

static size_t size_of(void *p) {
    size_t size;
    memcpy(&size, (unsigned char *)p - sizeof size, sizeof size);
    return size;
}

void *malloc(size_t size) { return bump(size, 16); }
void free(void *p) { (void)p; }
void *calloc(size_t n, size_t size) {
    if (size && n > SIZE_MAX / size)
        return NULL;
    return bump(n * size, 16); /* the arena is never reused, so it is still zero */
}
void *realloc(void *p, size_t size) {
    void *q = bump(size, 16);
    if (p && q)
        memcpy(q, p, size_of(p) < size ? size_of(p) : size);
    return q;
}
void *memalign(size_t align, size_t size) { return bump(size, align); }
void *aligned_alloc(size_t align, size_t size) { return bump(size, align); }
int posix_memalign(void **out, size_t align, size_t size) {
    void *p = bump(size, align);
    if (!p)
        return ENOMEM;
    *out = p;
    return 0;
}
void *valloc(size_t size) { return bump(size, 4096); }
void *pvalloc(size_t size) { return bump((size + 4095) & ~(size_t)4095, 4096); }
size_t malloc_usable_size(void *p) { return p ? size_of(p) : 0; }

static void *in_thread(void *arg) {
    char *s = strdup("thread");
    *(long long *)arg = (long long)time(NULL) + (s != NULL) - 1;
    return NULL;
}

int main(void) {
    long long thread_time = 0, child_time = 0;
    char *text = malloc(100);
    snprintf(text, 100, "%lld", (long long)time(NULL));
    pthread_t t;
    pthread_create(&t, NULL, in_thread, &thread_time);
    pthread_join(t, NULL);
    int fds[2];
    if (pipe(fds) != 0)
        return 2;
    pid_t pid = fork();
    if (pid == 0) {
        char *s = strdup("child");
        long long now = (long long)time(NULL) + (s != NULL) - 1;
        _exit(write(fds[1], &now, sizeof now) == sizeof now ? 0 : 1);
    }
    waitpid(pid, NULL, 0);
    if (read(fds[0], &child_time, sizeof child_time) != sizeof child_time)
        return 3;
    printf("calls_seen=%d main_time=%s child_time=%lld thread_time=%lld\n", calls > 0, text,
           child_time, thread_time);
    return 0;
}
