/* Thread determinism. The main thread creates its threads in a fixed order; each worker
 * waits a real, unpredictable delay (from CLOCK_MONOTONIC, never faked), records its first
 * wall-clock and random values, then reads both until a real deadline, so the number of reads
 * differs run to run. Worker 0 creates a thread of its own, one thread comes from C11
 * thrd_create, one ends with pthread_exit and one is cancelled (both unwind through whatever
 * started the thread). The main thread reads a fixed number of times while the workers run.
 *
 * Prints `NAME clock=S.NNNNNNNNN random=HEX` per thread in a fixed order, then one line of
 * checks: `backwards` counts reads where a thread's wall clock went back, `inherit_bad`
 * counts threads whose first read is earlier than their creator's last read before creating
 * them, `exit`/`cancelled` report the ends of the two odd threads. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/random.h>
#include <threads.h>
#include <time.h>

enum { MAIN, W0, W1, W2, W3, GRANDCHILD, C11, EXITER, MAIN_AFTER, N_RECORDS };
static const char *names[N_RECORDS] = {"main",   "worker0", "worker1", "worker2",   "worker3",
                                       "worker0.0", "c11", "exiter",  "main_after"};

static struct {
    uint64_t clock;
    unsigned char random[8];
} records[N_RECORDS];
static uint64_t created_at[N_RECORDS];
static int backwards, inherit_bad;

static uint64_t ns(clockid_t id) {
    struct timespec t;
    clock_gettime(id, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* A busy wait on the real monotonic clock (a sleep would move a faked clock). */
static void spin(uint64_t delay_ns) {
    uint64_t end = ns(CLOCK_MONOTONIC) + delay_ns;
    while (ns(CLOCK_MONOTONIC) < end) {
    }
}

static void record(int who) {
    records[who].clock = ns(CLOCK_REALTIME);
    getrandom(records[who].random, sizeof records[who].random, 0);
    if (records[who].clock < created_at[who])
        __atomic_add_fetch(&inherit_bad, 1, __ATOMIC_RELAXED);
}

/* One read of the clock, randomness and time(); counts a backward step from *last. */
static void read_once(uint64_t *last) {
    unsigned char b[16];
    uint64_t now = ns(CLOCK_REALTIME);
    if (now < *last)
        __atomic_add_fetch(&backwards, 1, __ATOMIC_RELAXED);
    *last = now;
    getrandom(b, sizeof b, 0);
    time(NULL);
}

/* Reads until a real deadline, so the number of reads is unpredictable. */
static void hammer(uint64_t for_ns) {
    uint64_t end = ns(CLOCK_MONOTONIC) + for_ns, last = ns(CLOCK_REALTIME);
    while (ns(CLOCK_MONOTONIC) < end)
        read_once(&last);
}

static void *grandchild(void *arg) {
    (void)arg;
    record(GRANDCHILD);
    hammer(ns(CLOCK_MONOTONIC) % 10000000);
    return NULL;
}

static void *worker(void *arg) {
    int who = (int)(intptr_t)arg;
    spin(ns(CLOCK_MONOTONIC) % 3000000);
    record(who);
    if (who == W0) {
        pthread_t t;
        created_at[GRANDCHILD] = ns(CLOCK_REALTIME);
        pthread_create(&t, NULL, grandchild, NULL);
        pthread_join(t, NULL);
    }
    hammer(10000000 + ns(CLOCK_MONOTONIC) % 20000000);
    return NULL;
}

static int c11_worker(void *arg) {
    (void)arg;
    spin(ns(CLOCK_MONOTONIC) % 3000000);
    record(C11);
    hammer(ns(CLOCK_MONOTONIC) % 10000000);
    return 7;
}

static void *exiter(void *arg) {
    (void)arg;
    record(EXITER);
    pthread_exit((void *)42);
}

static void *cancellee(void *arg) {
    (void)arg;
    for (;;) {
        time(NULL);
        pthread_testcancel();
    }
    return NULL;
}

int main(void) {
    pthread_t t[N_RECORDS], cancelled;
    thrd_t c11;
    record(MAIN);
    for (int who = W0; who <= W3; who++) {
        created_at[who] = ns(CLOCK_REALTIME);
        pthread_create(&t[who], NULL, worker, (void *)(intptr_t)who);
    }
    created_at[C11] = ns(CLOCK_REALTIME);
    thrd_create(&c11, c11_worker, NULL);
    created_at[EXITER] = ns(CLOCK_REALTIME);
    pthread_create(&t[EXITER], NULL, exiter, NULL);
    pthread_create(&cancelled, NULL, cancellee, NULL);
    uint64_t last = ns(CLOCK_REALTIME);
    for (int i = 0; i < 20000; i++)
        read_once(&last);
    record(MAIN_AFTER);

    void *exit_value = NULL, *cancel_value = NULL;
    int c11_value = 0;
    for (int who = W0; who <= W3; who++)
        pthread_join(t[who], NULL);
    thrd_join(c11, &c11_value);
    pthread_join(t[EXITER], &exit_value);
    pthread_cancel(cancelled);
    pthread_join(cancelled, &cancel_value);

    for (int who = 0; who < N_RECORDS; who++) {
        printf("%s clock=%llu.%09llu random=", names[who],
               (unsigned long long)(records[who].clock / 1000000000u),
               (unsigned long long)(records[who].clock % 1000000000u));
        for (size_t i = 0; i < sizeof records[who].random; i++)
            printf("%02x", records[who].random[i]);
        printf("\n");
    }
    printf("backwards=%d inherit_bad=%d exit=%ld c11=%d cancelled=%d\n", backwards, inherit_bad,
           (long)(intptr_t)exit_value, c11_value, cancel_value == PTHREAD_CANCELED);
    return 0;
}
