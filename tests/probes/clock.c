/* Prints every wall-clock entry point once, one `name=value` line each, in a fixed order. */
#define _GNU_SOURCE
#include <stdio.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/timeb.h>
#include <time.h>
#include <unistd.h>

static void ts(const char *name, clockid_t id) {
    struct timespec t;
    if (clock_gettime(id, &t) != 0) {
        printf("%s=error\n", name);
        return;
    }
    printf("%s=%lld.%09ld\n", name, (long long)t.tv_sec, t.tv_nsec);
}

int main(void) {
    printf("time=%lld\n", (long long)time(NULL));
    struct timeval tv;
    gettimeofday(&tv, NULL);
    printf("gettimeofday=%lld.%06ld\n", (long long)tv.tv_sec, (long)tv.tv_usec);
    ts("realtime", CLOCK_REALTIME);
    ts("realtime_coarse", CLOCK_REALTIME_COARSE);
    ts("tai", CLOCK_TAI);
    struct timespec t;
    timespec_get(&t, TIME_UTC);
    printf("timespec_get=%lld.%09ld\n", (long long)t.tv_sec, t.tv_nsec);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    struct timeb tb;
    ftime(&tb);
#pragma GCC diagnostic pop
    printf("ftime=%lld.%03u\n", (long long)tb.time, tb.millitm);
    syscall(SYS_clock_gettime, CLOCK_REALTIME, &t);
    printf("syscall_clock_gettime=%lld.%09ld\n", (long long)t.tv_sec, t.tv_nsec);
    return 0;
}
