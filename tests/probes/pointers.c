/* Prints addresses that address-space randomization moves: a heap block, a stack variable,
 * a libc function and this program's own code. */
#include <stdio.h>
#include <stdlib.h>

int main(void) {
    int local = 0;
    void *heap = malloc(64);
    printf("heap=%p stack=%p libc=%p main=%p\n", heap, (void *)&local, (void *)&printf,
           (void *)&main);
    free(heap);
    return 0;
}
