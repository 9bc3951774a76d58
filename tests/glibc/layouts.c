/* The fixture run against each glibc release that tests/glibc/make_cores.py
 * builds: a heap with a block in every state the walker tells apart, in the
 * main arena and in a thread arena, and the truth recorded as JSON lines to
 * $STRAND_TRUTH:
 *   {"kind":"used","addr":"0x..","size":N}    a block the program holds
 *   {"kind":"freed","addr":"0x..","size":N,"list":"tcache|fastbin|bin"}
 *   {"kind":"lost","addr":"0x..","size":N}    a block no pointer reaches
 *   {"kind":"mallinfo",...}                   glibc's own counts (mallinfo)
 * Built against the release itself (its headers, crt files and libc), so
 * it uses nothing a 2.17 libc lacks. Its own output goes through write(2):
 * stdio would allocate blocks the truth cannot name. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <gnu/libc-version.h>
#include <malloc.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define HELD 40
#define LOST 6

static int truth_fd = 2;
static void *held[2][HELD];
static int nheld[2];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int thread_done;

static void truth(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void truth(const char *fmt, ...)
{
	char line[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	line[n++] = '\n';
	pthread_mutex_lock(&lock);
	if (write(truth_fd, line, (size_t)n) != n)
		_exit(3);
	pthread_mutex_unlock(&lock);
}

static void *hold(int who, size_t size)
{
	void *p = malloc(size);
	memset(p, 0x11, size);
	held[who][nheld[who]++] = p;
	return p;
}

static void release(void *p, size_t size, const char *list)
{
	truth("{\"kind\":\"freed\",\"addr\":\"%p\",\"size\":%zu,\"list\":\"%s\"}", p, size, list);
	free(p);
}

/* Blocks in each state, each free one fenced by held blocks so that none
 * merges with a neighbour or top, and no request after the frees that could
 * be carved from them. Sizes past the tcache (0x500, 0x1000) go to the
 * unsorted bin, then to their bins when a larger request sorts them. Then 16
 * frees of one small size: the first 7 fill its tcache bin (none before
 * 2.26), the rest go to a fastbin. Large requests consolidate the fastbins
 * first, so none comes after them. */
static void build(int who)
{
	void *small[16], *big[4];
	int tcache = __GLIBC_MINOR__ >= 26 ? 7 : 0;
	for (int i = 0; i < 16; i++) {
		small[i] = malloc(40);
		hold(who, 24);
	}
	for (int i = 0; i < 4; i++) {
		big[i] = malloc(i < 2 ? 0x500 : 0x1000);
		hold(who, 200);
	}
	for (int i = 0; i < 4; i++)
		release(big[i], i < 2 ? 0x500 : 0x1000, "bin");
	hold(who, 0x2000); /* sorts the unsorted chunks into small and large bins */
	hold(who, 300 * 1024); /* mmapped */
	for (int i = 0; i < 16; i++)
		release(small[i], 40, i < tcache ? "tcache" : "fastbin");
}

/* Far below the frames that stay live: no stale copy of a lost pointer. */
__attribute__((noinline)) static void lose(void)
{
	volatile char pad[16 * 1024];
	pad[0] = 0;
	for (int i = 0; i < LOST; i++) {
		size_t size = 48 + 80 * (size_t)i;
		char *p = malloc(size);
		memset(p, 0x22, size);
		truth("{\"kind\":\"lost\",\"addr\":\"%p\",\"size\":%zu}", (void *)p, size);
	}
	pad[1] = pad[0];
}

/* The one block glibc allocates for the program here: the thread's dynamic
 * TLS table (DTV), calloc'd in the main arena by pthread_create. The TCB's
 * second word (fs:8) points one entry (16 bytes) into it. */
static void record_dtv(void)
{
	char *dtv;
	__asm__("mov %%fs:8, %0" : "=r"(dtv));
	truth("{\"kind\":\"used\",\"addr\":\"%p\",\"size\":%zu,\"what\":\"DTV\"}", (void *)(dtv - 16),
	      malloc_usable_size(dtv - 16));
}

static void *thread_main(void *arg)
{
	(void)arg;
	record_dtv();
	lose();
	build(1);
	pthread_mutex_lock(&lock);
	thread_done = 1;
	pthread_cond_broadcast(&cond);
	while (thread_done)
		pthread_cond_wait(&cond, &lock);
	pthread_mutex_unlock(&lock);
	return NULL;
}

int main(void)
{
	const char *path = getenv("STRAND_TRUTH");
	if (path && (truth_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0)
		return 3;
	lose();
	pthread_t t; /* first: its creation allocates (the thread's DTV) */
	if (pthread_create(&t, NULL, thread_main, NULL))
		return 3;
	pthread_mutex_lock(&lock);
	while (!thread_done)
		pthread_cond_wait(&cond, &lock);
	pthread_mutex_unlock(&lock);
	build(0);
	for (int who = 0; who < 2; who++)
		for (int i = 0; i < nheld[who]; i++)
			truth("{\"kind\":\"used\",\"addr\":\"%p\",\"size\":%zu}", held[who][i],
			      malloc_usable_size(held[who][i]));
	struct mallinfo mi = mallinfo();
	truth("{\"kind\":\"mallinfo\",\"arena\":%d,\"ordblks\":%d,\"smblks\":%d,\"hblks\":%d,\"hblkhd\":%d,"
	      "\"uordblks\":%d,\"fordblks\":%d,\"fsmblks\":%d}", mi.arena, mi.ordblks, mi.smblks, mi.hblks, mi.hblkhd,
	      mi.uordblks, mi.fordblks, mi.fsmblks);
	truth("{\"kind\":\"ready\",\"pid\":%d,\"release\":\"%s\"}", (int)getpid(), gnu_get_libc_version());
	if (write(1, "ready\n", 6) != 6)
		return 3;
	for (;;)
		pause();
}
