/* Prints what early_lib.c's constructor saw before the shim's constructor ran (linked against
 * that library), then the main thread's own first values:
 *   shim_ready_before_ctor=0|1|unset   whether DETBUILD_KEY had already been rewritten by the
 *                                      shim when the constructor started (0: the case we want)
 *   ctor_time=S ctor_clock=S.N ctor_random=HEX ctor_thread_random=HEX ctor_fork_random=HEX
 *   main_time=S main_random=HEX */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

extern long long early_time;
extern struct timespec early_clock;
extern unsigned char early_random[8], early_thread_random[8], early_fork_random[8];
extern char early_key[80];

static void hex(const char *name, const unsigned char *b) {
    printf("%s=", name);
    for (int i = 0; i < 8; i++)
        printf("%02x", b[i]);
    printf("\n");
}

int main(void) {
    const char *key = getenv("DETBUILD_KEY");
    if (!key)
        printf("shim_ready_before_ctor=unset\n");
    else
        printf("shim_ready_before_ctor=%d\n", strcmp(key, early_key) == 0);
    printf("ctor_time=%lld\n", early_time);
    printf("ctor_clock=%lld.%09ld\n", (long long)early_clock.tv_sec, early_clock.tv_nsec);
    hex("ctor_random", early_random);
    hex("ctor_thread_random", early_thread_random);
    hex("ctor_fork_random", early_fork_random);
    unsigned char b[8];
    printf("main_time=%lld\n", (long long)time(NULL));
    getrandom(b, sizeof b, 0);
    hex("main_random", b);
    return 0;
}
