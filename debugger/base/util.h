/* Small helpers used everywhere: allocation that cannot fail silently,
 * a growable string buffer, the last error message, file and number parsing. */
#ifndef STRAND_UTIL_H
#define STRAND_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t n);
void *xrealloc(void *p, size_t n);
/* Zeroed memory for big tables: untouched pages cost nothing, touched ones
 * come as huge pages (hundreds of times fewer page faults). */
void *xcalloc_big(size_t count, size_t size);
/* The same, not zeroed: for tables that are written whole before any read. */
void *xmalloc_big(size_t count, size_t size);
void advise_huge_pages(void *p, size_t len);
/* Address space for an array that may need count elements but whose final
 * size is not known: pages cost RAM only once written, and the array never
 * moves or is copied while it fills. Give it back with xunreserve (same
 * arguments). */
void *xreserve(size_t count, size_t size);
void xunreserve(void *p, size_t count, size_t size);
char *xstrdup(const char *s);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *xvasprintf(const char *fmt, va_list ap);
char *xstrndup(const char *s, size_t n);

/* qsort for an array that may be empty, and then NULL, which qsort must not
 * be given even with a count of 0. */
void sort_array(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *));
/* The order of two uint64_t, for sort_array and bsearch. */
int compare_u64(const void *a, const void *b);
/* In an array of n elements of size bytes sorted by the uint64_t at
 * key_offset in each: how many have that key <= key (the one at the result
 * minus 1 is the last of them; 0: none). */
size_t sorted_upper_bound(const void *base, size_t n, size_t size, size_t key_offset, uint64_t key);

/* Grow *array (of *cap elements of size elem) so that it holds at least need. */
void grow_array(void **array, size_t *cap, size_t need, size_t elem);
#define GROW(array, cap, need) grow_array((void **)&(array), &(cap), (need), sizeof(*(array)))

struct strbuf {
	char *buf;
	size_t len, cap;
};
#define STRBUF_INIT { NULL, 0, 0 }
void sb_add(struct strbuf *sb, const void *s, size_t n);
void sb_adds(struct strbuf *sb, const char *s);
void sb_addc(struct strbuf *sb, char c);
void sb_addf(struct strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sb_vaddf(struct strbuf *sb, const char *fmt, va_list ap);
const char *sb_str(struct strbuf *sb); /* never NULL */
char *sb_detach(struct strbuf *sb);
void sb_reset(struct strbuf *sb);
void sb_release(struct strbuf *sb);

/* The last error, as one line a user can read. Functions that fail return -1
 * (or NULL) and leave the reason here; error_set("context: %s", error_get())
 * adds context to it. */
int error_set(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
const char *error_get(void);

/* Open a file the user named, for reading (O_CLOEXEC, blocking reads).
 * Anything but a regular file is refused at once with one line naming it,
 * error_set("PATH: a directory, not WHAT"): a FIFO would block the open or the
 * reads forever, a device (/dev/zero) never ends, a directory has no bytes.
 * what: what the file should have been ("a core", "a command file"). Returns
 * the descriptor, or -1 with error_set(). */
int open_user_file(const char *path, const char *what);
/* The same as a stdio stream. NULL with error_set(). */
FILE *fopen_user_file(const char *path, const char *what);
/* The same check for a file another library opens (libdwfl, dlopen): 0, or -1
 * with error_set(). */
int check_user_file(const char *path, const char *what);

/* What kind of file a stat mode says: "a directory", "a FIFO", "a character
 * device", ... for one-line errors. */
const char *file_type_name(unsigned mode);

/* Read a whole (small, possibly /proc) file; NUL-terminated. NULL and errno on failure. */
char *read_file(const char *path, size_t *len);
/* Read a file of /proc/PID/..., formatted path. */
char *read_procf(size_t *len, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A size: a number with an optional K, M or G (KiB, MiB, GiB) suffix. */
bool parse_size(const char *s, uint64_t *out);
/* Parse an unsigned number: decimal, 0x hex or 0 octal, whole string. */
bool parse_u64(const char *s, uint64_t *out);
bool parse_int(const char *s, long *out);

/* Split a line into words at spaces and tabs. Returns the count; *words is
 * one allocation to free with free(). */
int split_words(const char *line, char ***words);

/* Human-readable byte size: "12.0 KiB". Returns buf. */
char *format_bytes(uint64_t n, char *buf, size_t len);

/* Monotonic time in seconds. */
double now_seconds(void);

#endif
