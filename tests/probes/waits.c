/* One sleep or timed wait per run, chosen by argv[1], aimed ~200 ms ahead (sleep: 1 s).
 *
 * Reads CLOCK_REALTIME once (the deadline is that value + 200 ms for REALTIME-deadline cases),
 * waits, reads it again, and prints:
 *   result=   what the call returned: timedout, ok, interrupted, or rc=N errno=E
 *   real_ms=  real time the call took (CLOCK_MONOTONIC)
 *   real_ok=  1 if that was within [200 ms, 2 s] (the sleep case: [1 s, 2 s])
 *   faked_ns= the difference between the two REALTIME reads
 * A timed wait is arranged to time out: nobody signals the condvar, posts the semaphore or
 * releases the lock a helper thread holds. Without deadline translation under detbuild the
 * REALTIME deadline is decades in the kernel's past (returns at once) or future (hangs). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <mqueue.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <linux/futex.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/timerfd.h>
#include <threads.h>
#include <time.h>
#include <unistd.h>

#define MS 1000000L

static struct timespec mono0, real0;
static pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_rwlock_t rwlock = PTHREAD_RWLOCK_INITIALIZER;
static sem_t held;

static struct timespec plus(struct timespec t, long ns) {
    t.tv_nsec += ns;
    while (t.tv_nsec >= 1000000000L) {
        t.tv_nsec -= 1000000000L;
        t.tv_sec++;
    }
    return t;
}

static long long diff(struct timespec a, struct timespec b) {
    return (b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec);
}

/* Starts the measurement; returns the REALTIME deadline 200 ms after the read. */
static struct timespec start(void) {
    clock_gettime(CLOCK_MONOTONIC, &mono0);
    clock_gettime(CLOCK_REALTIME, &real0);
    return plus(real0, 200 * MS);
}

static struct timespec mono_deadline(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return plus(t, 200 * MS);
}

static void *hold_mutex(void *arg) {
    (void)arg;
    pthread_mutex_lock(&mutex);
    sem_post(&held);
    pause();
    return NULL;
}

static mtx_t c11_mutex;

static void *hold_c11_mutex(void *arg) {
    (void)arg;
    mtx_lock(&c11_mutex);
    sem_post(&held);
    pause();
    return NULL;
}

static void *hold_rwlock(void *arg) {
    (void)arg;
    pthread_rwlock_wrlock(&rwlock);
    sem_post(&held);
    pause();
    return NULL;
}

static int holder_tid;

static void *hold_pi(void *arg) {
    (void)arg;
    holder_tid = gettid();
    sem_post(&held);
    pause();
    return NULL;
}

static void *idle(void *arg) {
    (void)arg;
    pause();
    return NULL;
}

static void helper(void *(*fn)(void *)) {
    pthread_t t;
    sem_init(&held, 0, 0);
    pthread_create(&t, NULL, fn, NULL);
    sem_wait(&held);
}

/* Formats an error-number result. */
static const char *err(int rc) {
    static char buf[64];
    if (rc == 0)
        return "ok";
    if (rc == ETIMEDOUT)
        return "timedout";
    if (rc == EINTR)
        return "interrupted";
    snprintf(buf, sizeof buf, "rc=%d", rc);
    return buf;
}

/* Formats a -1/errno result. */
static const char *ret(long rc) { return err(rc == 0 ? 0 : errno); }

static void on_alarm(int sig) { (void)sig; }

static mqd_t queue(void) {
    char name[64];
    struct mq_attr a = {.mq_maxmsg = 1, .mq_msgsize = 8};
    snprintf(name, sizeof name, "/detbuild-waits-%d", (int)getpid());
    mqd_t q = mq_open(name, O_CREAT | O_RDWR, 0600, &a);
    mq_unlink(name);
    if (q == (mqd_t)-1) {
        perror("mq_open");
        exit(2);
    }
    return q;
}

/* Threads cancelled inside the hooked calls (cancellation points): each must unwind through
 * the shim and run its cleanup handler. */
static int cleaned;
static void count_cleanup(void *arg) { (void)arg; cleaned++; }
static void unlock_cleanup(void *arg) {
    cleaned++;
    pthread_mutex_unlock(arg);
}
static void *cancel_nanosleep(void *arg) {
    (void)arg;
    struct timespec t = {10, 0};
    pthread_cleanup_push(count_cleanup, NULL);
    nanosleep(&t, NULL);
    pthread_cleanup_pop(0);
    return NULL;
}
static void *cancel_sleep(void *arg) {
    (void)arg;
    pthread_cleanup_push(count_cleanup, NULL);
    sleep(10);
    pthread_cleanup_pop(0);
    return NULL;
}
static void *cancel_abs_sleep(void *arg) {
    (void)arg;
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    t.tv_sec += 10;
    pthread_cleanup_push(count_cleanup, NULL);
    clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &t, NULL);
    pthread_cleanup_pop(0);
    return NULL;
}
static void *cancel_cond(void *arg) {
    static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
    (void)arg;
    struct timespec t;
    pthread_mutex_lock(&mutex);
    clock_gettime(CLOCK_REALTIME, &t);
    t.tv_sec += 10;
    pthread_cleanup_push(unlock_cleanup, &mutex);
    pthread_cond_timedwait(&cond, &mutex, &t);
    pthread_cleanup_pop(0);
    return NULL;
}

static const char *run(const char *c) {
    pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
    struct timespec d, rel = {0, 200 * MS}, left;
    if (!strcmp(c, "nanosleep")) {
        start();
        return ret(nanosleep(&rel, NULL));
    }
    if (!strcmp(c, "usleep")) {
        start();
        return ret(usleep(200000));
    }
    if (!strcmp(c, "sleep")) {
        start();
        return sleep(1) == 0 ? "ok" : "interrupted";
    }
    if (!strcmp(c, "thrd_sleep")) {
        start();
        return thrd_sleep(&rel, NULL) == 0 ? "ok" : "error";
    }
    if (!strcmp(c, "clock_nanosleep_rel_realtime")) {
        start();
        return err(clock_nanosleep(CLOCK_REALTIME, 0, &rel, NULL));
    }
    if (!strcmp(c, "clock_nanosleep_rel_monotonic")) {
        start();
        return err(clock_nanosleep(CLOCK_MONOTONIC, 0, &rel, NULL));
    }
    if (!strcmp(c, "clock_nanosleep_abs_monotonic")) {
        start();
        d = mono_deadline();
        return err(clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &d, NULL));
    }
    if (!strcmp(c, "clock_nanosleep_abs_realtime")) {
        d = start();
        return err(clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &d, NULL));
    }
    if (!strcmp(c, "clock_nanosleep_abs_realtime_past")) {
        d = start();
        d.tv_sec -= 10;
        return err(clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &d, NULL));
    }
    if (!strcmp(c, "nanosleep_eintr")) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_alarm;
        sigaction(SIGALRM, &sa, NULL);
        struct itimerval it = {{0, 0}, {0, 200000}};
        struct timespec second = {1, 0};
        start();
        setitimer(ITIMER_REAL, &it, NULL);
        int r = nanosleep(&second, &left);
        printf("remaining_over_700ms=%d\n", left.tv_sec == 0 && left.tv_nsec > 700 * MS);
        return ret(r);
    }
    if (!strcmp(c, "cond_timedwait")) {
        pthread_mutex_lock(&mutex);
        d = start();
        return err(pthread_cond_timedwait(&cond, &mutex, &d));
    }
    if (!strcmp(c, "cond_timedwait_monotonic_condvar")) {
        pthread_condattr_t a;
        pthread_condattr_init(&a);
        pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
        pthread_cond_init(&cond, &a);
        pthread_mutex_lock(&mutex);
        start();
        d = mono_deadline();
        return err(pthread_cond_timedwait(&cond, &mutex, &d));
    }
    if (!strcmp(c, "cond_clockwait_realtime")) {
        pthread_mutex_lock(&mutex);
        d = start();
        return err(pthread_cond_clockwait(&cond, &mutex, CLOCK_REALTIME, &d));
    }
    if (!strcmp(c, "cond_clockwait_monotonic")) {
        pthread_mutex_lock(&mutex);
        start();
        d = mono_deadline();
        return err(pthread_cond_clockwait(&cond, &mutex, CLOCK_MONOTONIC, &d));
    }
    if (!strcmp(c, "cnd_timedwait")) {
        cnd_t cv;
        mtx_t m;
        cnd_init(&cv);
        mtx_init(&m, mtx_timed);
        mtx_lock(&m);
        d = start();
        return cnd_timedwait(&cv, &m, &d) == thrd_timedout ? "timedout" : "error";
    }
    if (!strcmp(c, "sem_timedwait") || !strcmp(c, "sem_clockwait_realtime")) {
        sem_t s;
        sem_init(&s, 0, 0);
        d = start();
        return ret(c[4] == 't' ? sem_timedwait(&s, &d) : sem_clockwait(&s, CLOCK_REALTIME, &d));
    }
    if (!strcmp(c, "mutex_timedlock") || !strcmp(c, "mutex_clocklock_realtime")) {
        helper(hold_mutex);
        d = start();
        return err(c[6] == 't' ? pthread_mutex_timedlock(&mutex, &d)
                               : pthread_mutex_clocklock(&mutex, CLOCK_REALTIME, &d));
    }
    if (!strcmp(c, "mtx_timedlock")) {
        mtx_init(&c11_mutex, mtx_timed);
        helper(hold_c11_mutex);
        d = start();
        return mtx_timedlock(&c11_mutex, &d) == thrd_timedout ? "timedout" : "error";
    }
    if (!strncmp(c, "rwlock_", 7)) {
        helper(hold_rwlock);
        d = start();
        if (!strcmp(c, "rwlock_timedrdlock"))
            return err(pthread_rwlock_timedrdlock(&rwlock, &d));
        if (!strcmp(c, "rwlock_timedwrlock"))
            return err(pthread_rwlock_timedwrlock(&rwlock, &d));
        if (!strcmp(c, "rwlock_clockrdlock_realtime"))
            return err(pthread_rwlock_clockrdlock(&rwlock, CLOCK_REALTIME, &d));
        if (!strcmp(c, "rwlock_clockwrlock_realtime"))
            return err(pthread_rwlock_clockwrlock(&rwlock, CLOCK_REALTIME, &d));
    }
    if (!strcmp(c, "timedjoin_np") || !strcmp(c, "clockjoin_np_realtime")) {
        pthread_t t;
        pthread_create(&t, NULL, idle, NULL);
        d = start();
        return err(c[0] == 't' ? pthread_timedjoin_np(t, NULL, &d)
                               : pthread_clockjoin_np(t, NULL, CLOCK_REALTIME, &d));
    }
    if (!strcmp(c, "mq_timedreceive")) {
        mqd_t q = queue();
        char buf[8];
        d = start();
        return ret(mq_timedreceive(q, buf, sizeof buf, NULL, &d) < 0 ? -1 : 0);
    }
    if (!strcmp(c, "mq_timedsend")) {
        mqd_t q = queue();
        mq_send(q, "full", 4, 0);
        d = start();
        return ret(mq_timedsend(q, "more", 4, 0, &d));
    }
    if (!strcmp(c, "timerfd_abs_realtime")) {
        int fd = timerfd_create(CLOCK_REALTIME, 0);
        struct itimerspec its = {{0, 0}, {0, 0}};
        its.it_value = start();
        timerfd_settime(fd, TFD_TIMER_ABSTIME, &its, NULL);
        struct pollfd p = {fd, POLLIN, 0};
        return poll(&p, 1, 5000) == 1 ? "ok" : "poll timed out";
    }
    if (!strcmp(c, "timer_abs_realtime")) {
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGUSR1);
        sigprocmask(SIG_BLOCK, &set, NULL);
        struct sigevent ev;
        memset(&ev, 0, sizeof ev);
        ev.sigev_notify = SIGEV_SIGNAL;
        ev.sigev_signo = SIGUSR1;
        timer_t id;
        timer_create(CLOCK_REALTIME, &ev, &id);
        struct itimerspec its = {{0, 0}, {0, 0}};
        its.it_value = start();
        timer_settime(id, TIMER_ABSTIME, &its, NULL);
        struct timespec limit = {5, 0};
        return sigtimedwait(&set, NULL, &limit) == SIGUSR1 ? "ok" : "sigtimedwait timed out";
    }
    if (!strcmp(c, "cancel")) {
        void *(*fns[])(void *) = {cancel_nanosleep, cancel_sleep, cancel_abs_sleep, cancel_cond};
        int cancelled = 0;
        start();
        for (int i = 0; i < 4; i++) {
            pthread_t t;
            void *r;
            pthread_create(&t, NULL, fns[i], NULL);
            struct timespec settle = {0, 50 * MS};
            nanosleep(&settle, NULL);
            pthread_cancel(t);
            pthread_join(t, &r);
            cancelled += r == PTHREAD_CANCELED;
        }
        printf("cancelled=%d\ncleaned=%d\n", cancelled, cleaned);
        return "ok";
    }
    /* Through libc's syscall(): the same hooks as the wrappers. */
    if (!strcmp(c, "syscall_nanosleep")) {
        start();
        return ret(syscall(SYS_nanosleep, &rel, NULL));
    }
    if (!strcmp(c, "syscall_clock_nanosleep_abs_realtime")) {
        d = start();
        return ret(syscall(SYS_clock_nanosleep, CLOCK_REALTIME, TIMER_ABSTIME, &d, NULL));
    }
    if (!strcmp(c, "futex_wait_bitset_realtime")) {
        static unsigned word;
        d = start();
        return ret(syscall(SYS_futex, &word, FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME,
                           0, &d, NULL, FUTEX_BITSET_MATCH_ANY));
    }
    if (!strcmp(c, "futex_lock_pi")) {
        static unsigned word;
        helper(hold_pi);
        word = holder_tid; /* owned by the helper, which never unlocks */
        d = start();
        return ret(syscall(SYS_futex, &word, FUTEX_LOCK_PI | FUTEX_PRIVATE_FLAG, 0, &d, NULL, 0));
    }
    /* Relative timeouts: not hooked, the faked clock only moves by the one read. */
    if (!strcmp(c, "poll")) {
        start();
        return poll(NULL, 0, 200) == 0 ? "timedout" : "error";
    }
    if (!strcmp(c, "select")) {
        struct timeval tv = {0, 200000};
        start();
        return select(0, NULL, NULL, NULL, &tv) == 0 ? "timedout" : "error";
    }
    if (!strcmp(c, "epoll_wait")) {
        int ep = epoll_create1(0);
        struct epoll_event ev;
        start();
        return epoll_wait(ep, &ev, 1, 200) == 0 ? "timedout" : "error";
    }
    if (!strcmp(c, "ppoll")) {
        start();
        return ppoll(NULL, 0, &rel, NULL) == 0 ? "timedout" : "error";
    }
    if (!strcmp(c, "pselect")) {
        start();
        return pselect(0, NULL, NULL, NULL, &rel, NULL) == 0 ? "timedout" : "error";
    }
    if (!strcmp(c, "sigtimedwait")) {
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGUSR2);
        sigprocmask(SIG_BLOCK, &set, NULL);
        start();
        return sigtimedwait(&set, NULL, &rel) < 0 && errno == EAGAIN ? "timedout" : "error";
    }
    /* `while (now < deadline) timedwait(deadline)`: must end after one real 200 ms wait. */
    if (!strcmp(c, "deadline_loop")) {
        struct timespec now;
        int turns = 0;
        pthread_mutex_lock(&mutex);
        d = start();
        do {
            pthread_cond_timedwait(&cond, &mutex, &d);
            turns++;
            clock_gettime(CLOCK_REALTIME, &now);
        } while (diff(now, d) > 0 && turns < 100000);
        printf("turns=%d\n", turns);
        return "ok";
    }
    fprintf(stderr, "unknown case %s\n", c);
    exit(2);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: waits CASE\n");
        return 2;
    }
    const char *result = run(argv[1]);
    struct timespec real1, mono1;
    clock_gettime(CLOCK_REALTIME, &real1);
    clock_gettime(CLOCK_MONOTONIC, &mono1);
    long long real = diff(mono0, mono1);
    long long low = strcmp(argv[1], "sleep") ? 200 * MS : 1000 * MS;
    printf("case=%s\nresult=%s\nreal_ms=%lld\nreal_ok=%d\nfaked_ns=%lld\n", argv[1], result,
           real / MS, real >= low && real <= 2000 * MS, diff(real0, real1));
    fflush(stdout);
    _exit(0);
}
