/* Prints what a C program learns about its host: every uname field, gethostname,
 * getdomainname, and gethostname into a buffer too small for the name. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

int main(void) {
    struct utsname u;
    char name[256], domain[256], tiny[3];
    if (uname(&u) != 0 || gethostname(name, sizeof name) != 0 ||
        getdomainname(domain, sizeof domain) != 0) {
        perror("host");
        return 1;
    }
    printf("sysname=%s\nnodename=%s\nrelease=%s\nversion=%s\nmachine=%s\ndomainname=%s\n",
           u.sysname, u.nodename, u.release, u.version, u.machine, u.domainname);
    printf("gethostname=%s\ngetdomainname=%s\n", name, domain);
    errno = 0;
    int r = gethostname(tiny, sizeof tiny);
    printf("tiny=%d %s %.3s\n", r, strerror(errno), tiny);
    return 0;
}
