/* Probes with one printer per entry point. `run_entry_points` prints the entry points named by
 * the arguments, in argument order, or every one in table order when no argument names one.
 * Other arguments are ignored: they are there for per-program policies that look at the
 * command line (a copy of the random probe named `openssl`, run as `openssl genrsa`). Each
 * printer prints one `name=value` line. */
#include <string.h>

struct entry_point {
    const char *name;
    void (*print)(const char *name);
};

static int run_entry_points(const struct entry_point *table, int n, int argc, char **argv) {
    int selected = 0;
    for (int a = 1; a < argc; a++)
        for (int i = 0; i < n; i++)
            if (!strcmp(table[i].name, argv[a])) {
                table[i].print(table[i].name);
                selected++;
            }
    if (!selected)
        for (int i = 0; i < n; i++)
            table[i].print(table[i].name);
    return 0;
}

#define ENTRY_POINTS_MAIN(table)                                                               \
    int main(int argc, char **argv) {                                                          \
        return run_entry_points(table, (int)(sizeof table / sizeof table[0]), argc, argv);     \
    }
