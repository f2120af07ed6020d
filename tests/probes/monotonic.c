/* Reads CLOCK_MONOTONIC around a 50 ms sleep: prints whether the sleep was seen in full,
 * and the raw value (which differs between runs when the clock is real). */
#include <stdio.h>
#include <time.h>

int main(void) {
    struct timespec a, b, nap = {0, 50 * 1000 * 1000};
    clock_gettime(CLOCK_MONOTONIC, &a);
    nanosleep(&nap, NULL);
    clock_gettime(CLOCK_MONOTONIC, &b);
    long long ns = (b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec);
    printf("elapsed_at_least_50ms=%d\n", ns >= 50 * 1000 * 1000);
    printf("monotonic=%lld.%09ld\n", (long long)b.tv_sec, b.tv_nsec);
    return 0;
}
