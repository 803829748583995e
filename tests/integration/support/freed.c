/* Preloaded into the agent by tests/integration/secrets.rs: reports every
 * heap block released while it still holds one of the marker strings in
 * $FREED_MARKERS (comma-separated), one line "MARKER SIZE" appended to
 * $FREED_REPORT (after a first line saying that it was preloaded). A
 * zeroizing type wipes its block before releasing it, so a line here is a
 * copy of a secret left behind in freed memory.
 *
 * realloc always moves the block (and checks the old one): a growing buffer
 * that glibc happened to extend in place would otherwise hide the copy it
 * leaves whenever it is moved. The allocator's own entry points
 * (__libc_malloc, __libc_free) are used underneath, so no dlsym call
 * (which may allocate) is needed. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern void *__libc_malloc(size_t);
extern void __libc_free(void *);

#define MAX_MARKERS 8
static char markers[MAX_MARKERS][128];
static size_t lengths[MAX_MARKERS];
static int count;
static char report[512];

/* Appends one line to the report (open, write, close: no stdio buffer, which
 * would allocate inside free). */
static void report_line(const char *line, int len) {
    if (len <= 0) return;
    int fd = open(report, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return;
    (void)!write(fd, line, (size_t)len);
    close(fd);
}

__attribute__((constructor)) static void init(void) {
    const char *m = getenv("FREED_MARKERS");
    const char *r = getenv("FREED_REPORT");
    if (!m || !r || strlen(r) >= sizeof report) return;
    strcpy(report, r);
    while (*m && count < MAX_MARKERS) {
        size_t n = strcspn(m, ",");
        if (n > 0 && n < sizeof markers[0]) {
            memcpy(markers[count], m, n);
            lengths[count++] = n;
        }
        m += n;
        if (*m == ',') m++;
    }
    /* Tells the test that the hook is in place, so that an empty report
     * cannot come from a preload that did not happen. */
    char line[64];
    report_line(line, snprintf(line, sizeof line, "preloaded, %d markers\n", count));
}

static void check(void *p) {
    if (!p || !count) return;
    size_t size = malloc_usable_size(p);
    for (int i = 0; i < count; i++) {
        if (memmem(p, size, markers[i], lengths[i])) {
            char line[200];
            report_line(line, snprintf(line, sizeof line, "%s %zu\n", markers[i], size));
        }
    }
}

void free(void *p) {
    check(p);
    __libc_free(p);
}

void *realloc(void *p, size_t n) {
    if (!p) return __libc_malloc(n);
    if (n == 0) {
        free(p);
        return NULL;
    }
    void *q = __libc_malloc(n);
    if (!q) return NULL;
    size_t old = malloc_usable_size(p);
    memcpy(q, p, old < n ? old : n);
    free(p);
    return q;
}
