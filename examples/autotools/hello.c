#include <stdio.h>

int main(void) {
    puts("hello from a make dist tarball");
    return 0;
}
