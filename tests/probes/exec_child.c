/* The program tests/probes/exec.c starts: prints its clock, some randomness and LD_PRELOAD,
 * one `name=value` line each, so a test sees whether the shim reached it. Built with
 * -DGO_NOTE it carries a Go build-id note, so the shim must take it for a Go program. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>
#include <time.h>

#ifdef GO_NOTE
__asm__(".section .note.go.buildid,\"a\",@note\n"
        ".balign 4\n"
        ".long 4, 8, 4\n"
        ".asciz \"Go\"\n.balign 4\n"
        ".ascii \"fake-id!\"\n"
        ".previous\n");
#endif

int main(void) {
    printf("time=%lld\n", (long long)time(NULL));
    unsigned char b[8] = {0};
    if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b)
        printf("random=error\n");
    else
        printf("random=%02x%02x%02x%02x%02x%02x%02x%02x\n", b[0], b[1], b[2], b[3], b[4], b[5],
               b[6], b[7]);
    const char *preload = getenv("LD_PRELOAD");
    printf("preload=%s\n", preload ? preload : "unset");
    return 0;
}
