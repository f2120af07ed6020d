/* Prints the CPU count as a C program sees it through each entry point, one `name=N` line. */
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <unistd.h>

int main(void) {
    cpu_set_t set;
    CPU_ZERO(&set);
    int r = sched_getaffinity(0, sizeof set, &set);
    printf("sched_getaffinity=%d\n", r == 0 ? CPU_COUNT(&set) : -1);
    CPU_ZERO(&set);
    long bytes = syscall(SYS_sched_getaffinity, 0, sizeof set, &set);
    printf("syscall_getaffinity=%d\n", bytes > 0 ? CPU_COUNT(&set) : -1);
    printf("get_nprocs=%d\nget_nprocs_conf=%d\n", get_nprocs(), get_nprocs_conf());
    printf("sysconf_onln=%ld\nsysconf_conf=%ld\n", sysconf(_SC_NPROCESSORS_ONLN),
           sysconf(_SC_NPROCESSORS_CONF));
    return 0;
}
