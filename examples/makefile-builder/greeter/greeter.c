/* Prints what its build recorded in stamp.h. */
#include <stdio.h>
#include "stamp.h"

int main(void) {
    printf("built %s, salt %s, plugins %s\n", BUILT, SALT, PLUGINS);
    return 0;
}
