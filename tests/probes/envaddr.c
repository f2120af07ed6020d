/* Prints where PATH's value lies (programs that search PATH leave pointers into it on the
 * stack, and some write them out) and which entry comes first in the environment. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern char **environ;

int main(void) {
    const char *first = environ[0] ? environ[0] : "";
    printf("path=%p first=%.*s\n", (void *)getenv("PATH"), (int)strcspn(first, "="), first);
    return 0;
}
