/* Prints the stack-protector guard that -fstack-protector code compares on return (glibc
 * fills it from the kernel's AT_RANDOM bytes at every exec), and the guard a new thread sees. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>

static uint64_t guard(void) {
    uint64_t v;
    __asm__ volatile("movq %%fs:0x28, %0" : "=r"(v));
    return v;
}

static void *in_thread(void *out) {
    *(uint64_t *)out = guard();
    return NULL;
}

int main(void) {
    uint64_t threaded = 0;
    pthread_t t;
    if (pthread_create(&t, NULL, in_thread, &threaded) != 0 || pthread_join(t, NULL) != 0)
        return 1;
    printf("guard=%016llx\nthread=%016llx\n", (unsigned long long)guard(),
           (unsigned long long)threaded);
    return 0;
}
