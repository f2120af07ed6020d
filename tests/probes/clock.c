/* Prints wall-clock entry points, one `name=value` line each (see entry_points.h for which). */
#define _GNU_SOURCE
#include "entry_points.h"
#include <stdio.h>
#include <string.h>
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

static void p_time(const char *name) { printf("%s=%lld\n", name, (long long)time(NULL)); }

static void p_gettimeofday(const char *name) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    printf("%s=%lld.%06ld\n", name, (long long)tv.tv_sec, (long)tv.tv_usec);
}

static void p_realtime(const char *name) { ts(name, CLOCK_REALTIME); }
static void p_realtime_coarse(const char *name) { ts(name, CLOCK_REALTIME_COARSE); }
static void p_tai(const char *name) { ts(name, CLOCK_TAI); }

static void p_timespec_get(const char *name) {
    struct timespec t;
    timespec_get(&t, TIME_UTC);
    printf("%s=%lld.%09ld\n", name, (long long)t.tv_sec, t.tv_nsec);
}

static void p_ftime(const char *name) {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    struct timeb tb;
    ftime(&tb);
#pragma GCC diagnostic pop
    printf("%s=%lld.%03u\n", name, (long long)tb.time, tb.millitm);
}

static void p_syscall_clock_gettime(const char *name) {
    struct timespec t;
    syscall(SYS_clock_gettime, CLOCK_REALTIME, &t);
    printf("%s=%lld.%09ld\n", name, (long long)t.tv_sec, t.tv_nsec);
}

static const struct entry_point entries[] = {
    {"time", p_time},
    {"gettimeofday", p_gettimeofday},
    {"realtime", p_realtime},
    {"realtime_coarse", p_realtime_coarse},
    {"tai", p_tai},
    {"timespec_get", p_timespec_get},
    {"ftime", p_ftime},
    {"syscall_clock_gettime", p_syscall_clock_gettime},
};
ENTRY_POINTS_MAIN(entries)
