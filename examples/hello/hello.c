#include <stdio.h>

#include "date.h"
#include "python.h"
#include "salt.h"

int main(void) {
    printf("hello, built %s (compiler says %s %s)\n", BUILD_DATE, __DATE__, __TIME__);
    printf("python stamp %s, build id %s, salt %s\n", PY_TIME, BUILD_ID, SALT);
    return 0;
}
