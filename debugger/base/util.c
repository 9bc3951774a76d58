#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void out_of_memory(size_t n)
{
	fprintf(stderr, "strand: out of memory (%zu bytes)\n", n);
	abort();
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		out_of_memory(n);
	return p;
}

void *xcalloc(size_t count, size_t n)
{
	void *p = calloc(count ? count : 1, n ? n : 1);
	if (!p)
		out_of_memory(count * n);
	return p;
}

void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		out_of_memory(n);
	return p;
}

char *xstrdup(const char *s)
{
	char *p = strdup(s);
	if (!p)
		out_of_memory(strlen(s));
	return p;
}

char *xvasprintf(const char *fmt, va_list ap)
{
	struct strbuf sb = STRBUF_INIT;
	sb_vaddf(&sb, fmt, ap);
	return sb_detach(&sb);
}

char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s = xvasprintf(fmt, ap);
	va_end(ap);
	return s;
}

char *xstrndup(const char *s, size_t n)
{
	char *d = strndup(s, n);
	if (!d)
		out_of_memory(n);
	return d;
}

void sort_array(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
	if (n)
		qsort(base, n, size, cmp);
}

int compare_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

size_t sorted_upper_bound(const void *base, size_t n, size_t size, size_t key_offset, uint64_t key)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		uint64_t k;
		memcpy(&k, (const char *)base + mid * size + key_offset, sizeof(k));
		if (k <= key)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

void grow_array(void **array, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return;
	size_t n = *cap ? *cap : 8;
	while (n < need)
		n *= 2;
	*array = xrealloc(*array, n * elem);
	*cap = n;
	if (n * elem >= (8u << 20))
		advise_huge_pages(*array, n * elem);
}

void advise_huge_pages(void *p, size_t len)
{
	const uintptr_t huge = 2u << 20;
	uintptr_t start = ((uintptr_t)p + huge - 1) & ~(huge - 1), end = ((uintptr_t)p + len) & ~(huge - 1);
	if (end > start)
		madvise((void *)start, end - start, MADV_HUGEPAGE);
}

void *xreserve(size_t count, size_t size)
{
	size_t len = (count ? count : 1) * size;
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		out_of_memory(len);
	advise_huge_pages(p, len);
	return p;
}

void xunreserve(void *p, size_t count, size_t size)
{
	if (p)
		munmap(p, (count ? count : 1) * size);
}

void *xmalloc_big(size_t count, size_t size)
{
	void *p = xmalloc((count ? count : 1) * size);
	if (count * size >= (8u << 20))
		advise_huge_pages(p, count * size);
	return p;
}

void *xcalloc_big(size_t count, size_t size)
{
	void *p = xcalloc(count ? count : 1, size);
	if (count * size >= (8u << 20))
		advise_huge_pages(p, count * size);
	return p;
}

static void sb_reserve(struct strbuf *sb, size_t extra)
{
	GROW(sb->buf, sb->cap, sb->len + extra + 1);
}

void sb_add(struct strbuf *sb, const void *s, size_t n)
{
	sb_reserve(sb, n);
	memcpy(sb->buf + sb->len, s, n);
	sb->len += n;
	sb->buf[sb->len] = '\0';
}

void sb_adds(struct strbuf *sb, const char *s)
{
	sb_add(sb, s, strlen(s));
}

void sb_addc(struct strbuf *sb, char c)
{
	sb_add(sb, &c, 1);
}

void sb_vaddf(struct strbuf *sb, const char *fmt, va_list ap)
{
	va_list copy;
	va_copy(copy, ap);
	int n = vsnprintf(NULL, 0, fmt, copy);
	va_end(copy);
	if (n < 0)
		return;
	sb_reserve(sb, (size_t)n);
	vsnprintf(sb->buf + sb->len, (size_t)n + 1, fmt, ap);
	sb->len += (size_t)n;
}

void sb_addf(struct strbuf *sb, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	sb_vaddf(sb, fmt, ap);
	va_end(ap);
}

const char *sb_str(struct strbuf *sb)
{
	return sb->buf ? sb->buf : "";
}

char *sb_detach(struct strbuf *sb)
{
	char *s = sb->buf ? sb->buf : xstrdup("");
	sb->buf = NULL;
	sb->len = sb->cap = 0;
	return s;
}

void sb_reset(struct strbuf *sb)
{
	sb->len = 0;
	if (sb->buf)
		sb->buf[0] = '\0';
}

void sb_release(struct strbuf *sb)
{
	free(sb->buf);
	sb->buf = NULL;
	sb->len = sb->cap = 0;
}

static char last_error[1024];

int error_set(const char *fmt, ...)
{
	char msg[sizeof(last_error)]; /* the arguments may include error_get() */
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	memcpy(last_error, msg, sizeof(msg));
	return -1;
}

const char *error_get(void)
{
	return last_error[0] ? last_error : "unknown error";
}

const char *file_type_name(unsigned mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG:
		return "a regular file";
	case S_IFDIR:
		return "a directory";
	case S_IFIFO:
		return "a FIFO";
	case S_IFSOCK:
		return "a socket";
	case S_IFCHR:
		return "a character device";
	case S_IFBLK:
		return "a block device";
	case S_IFLNK:
		return "a symbolic link";
	default:
		return "a special file";
	}
}

static int refuse(const char *path, mode_t mode, const char *what)
{
	return error_set("%s: %s, not %s", path, file_type_name(mode), what);
}

int open_user_file(const char *path, const char *what)
{
	/* stat first: a device is refused without being opened (opening some
	 * has effects); fstat after the open: the path may have changed since. */
	struct stat st;
	if (stat(path, &st) < 0)
		return error_set("%s: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return refuse(path, st.st_mode, what);
	/* O_NONBLOCK: were it swapped for a FIFO, the open must not wait for a writer. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return error_set("%s: %s", path, strerror(errno));
	if (fstat(fd, &st) == 0 && !S_ISREG(st.st_mode)) {
		close(fd);
		return refuse(path, st.st_mode, what);
	}
	int flags = fcntl(fd, F_GETFL);
	if (flags >= 0)
		fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
	return fd;
}

int check_user_file(const char *path, const char *what)
{
	int fd = open_user_file(path, what);
	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

FILE *fopen_user_file(const char *path, const char *what)
{
	int fd = open_user_file(path, what);
	if (fd < 0)
		return NULL;
	FILE *fp = fdopen(fd, "r");
	if (!fp) {
		error_set("%s: %s", path, strerror(errno));
		close(fd);
	}
	return fp;
}

char *read_file(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	struct strbuf sb = STRBUF_INIT;
	char chunk[4096];
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int saved = errno;
			close(fd);
			sb_release(&sb);
			errno = saved;
			return NULL;
		}
		if (n == 0)
			break;
		sb_add(&sb, chunk, (size_t)n);
	}
	close(fd);
	if (len)
		*len = sb.len;
	return sb_detach(&sb);
}

char *read_procf(size_t *len, const char *fmt, ...)
{
	char path[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(path, sizeof(path), fmt, ap);
	va_end(ap);
	return read_file(path, len);
}

bool parse_u64(const char *s, uint64_t *out)
{
	if (!s || !*s || *s == '-')
		return false;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 0);
	if (errno || *end)
		return false;
	*out = v;
	return true;
}

bool parse_int(const char *s, long *out)
{
	if (!s || !*s)
		return false;
	char *end;
	errno = 0;
	long v = strtol(s, &end, 0);
	if (errno || *end)
		return false;
	*out = v;
	return true;
}

int split_words(const char *line, char ***words)
{
	size_t len = strlen(line);
	/* Pointers first, then a copy of the text they point into. */
	char **w = xmalloc((len / 2 + 2) * sizeof(char *) + len + 1);
	char *text = (char *)(w + len / 2 + 2);
	memcpy(text, line, len + 1);
	int n = 0;
	for (char *p = text; *p;) {
		while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
			*p++ = '\0';
		if (!*p)
			break;
		w[n++] = p;
		while (*p && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
			p++;
	}
	w[n] = NULL;
	*words = w;
	return n;
}

char *format_bytes(uint64_t n, char *buf, size_t len)
{
	static const char *unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	if (n < 1024) {
		snprintf(buf, len, "%llu B", (unsigned long long)n);
		return buf;
	}
	double v = (double)n;
	size_t u = 0;
	while (v >= 1024 && u + 1 < ARRAY_SIZE(unit)) {
		v /= 1024;
		u++;
	}
	snprintf(buf, len, "%.1f %s", v, unit[u]);
	return buf;
}

double now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

bool parse_size(const char *s, uint64_t *out)
{
	size_t len = strlen(s);
	if (!len)
		return false;
	const char *units = "KMG";
	const char *u = strchr(units, s[len - 1] & ~0x20);
	if (!u || !isalpha((unsigned char)s[len - 1]))
		return parse_u64(s, out);
	char *num = xstrndup(s, len - 1);
	bool ok = parse_u64(num, out);
	free(num);
	unsigned shift = 10 * (unsigned)(u - units + 1);
	if (!ok || *out > UINT64_MAX >> shift)
		return false; /* 17179869184G is 2^64: it wrapped to 0 */
	*out <<= shift;
	return true;
}
