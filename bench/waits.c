/* waits.c - per-call cost of the sleep and timed-wait hooks (issue 4), native vs detbuild.
 *
 * Usage: waits ITERATIONS            e.g.  gcc -O2 -pthread -o /tmp/waits bench/waits.c
 *                                          /tmp/waits 200000
 *                                          target/release/detbuild -- /tmp/waits 200000
 * Prints one `case=NAME ns_per_call=X` line per case. Every case returns at once (zero sleep,
 * uncontended lock, posted semaphore, deadline already past), so the numbers are the fixed
 * cost of the call and of the hook's translation, not of waiting. The timer is CLOCK_MONOTONIC
 * through a raw `syscall` instruction, so the preload cannot skew it.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <semaphore.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "now.h"

#define CASE(name, body)                                                                       \
    do {                                                                                       \
        uint64_t t0 = now_ns();                                                                \
        for (long i = 0; i < n; i++) {                                                         \
            body;                                                                              \
        }                                                                                      \
        printf("case=%-28s ns_per_call=%.1f\n", name, (double)(now_ns() - t0) / (double)n);    \
    } while (0)

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 100000;
    struct timespec zero = {0, 0}, past, now;
    pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t c = PTHREAD_COND_INITIALIZER, cm;
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(&cm, &a);
    sem_t s;
    sem_init(&s, 0, 0);
    clock_gettime(CLOCK_REALTIME, &now);
    past = now;
    past.tv_sec -= 10;
    struct timespec mono_past;
    clock_gettime(CLOCK_MONOTONIC, &mono_past);
    mono_past.tv_sec -= 10;

    CASE("clock_gettime_realtime", clock_gettime(CLOCK_REALTIME, &now));
    CASE("nanosleep_zero", nanosleep(&zero, NULL));
    CASE("clock_nanosleep_mono_zero", clock_nanosleep(CLOCK_MONOTONIC, 0, &zero, NULL));
    CASE("mutex_timedlock_free", (pthread_mutex_timedlock(&m, &now), pthread_mutex_unlock(&m)));
    CASE("sem_timedwait_posted", (sem_post(&s), sem_timedwait(&s, &now)));
    pthread_mutex_lock(&m);
    CASE("cond_timedwait_past", pthread_cond_timedwait(&c, &m, &past));
    CASE("cond_timedwait_mono_past", pthread_cond_timedwait(&cm, &m, &mono_past));
    pthread_mutex_unlock(&m);
    return 0;
}
