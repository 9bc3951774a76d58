/* Shared by the fixture programs. A fixture parks its threads in known places
 * and records the ground truth itself, one JSON object per line, to the file
 * named by $STRAND_TRUTH (stderr when unset); then it prints "ready" on stdout.
 * Tests compare what strand reports with that record. */
#ifndef STRAND_FIXTURE_H
#define STRAND_FIXTURE_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static FILE *fixture_truth_fp;
static pthread_mutex_t fixture_truth_lock = PTHREAD_MUTEX_INITIALIZER;

static void fixture_truth(const char *fmt, ...) __attribute__((format(printf, 1, 2), unused));
static void fixture_truth(const char *fmt, ...)
{
	pthread_mutex_lock(&fixture_truth_lock);
	if (!fixture_truth_fp) {
		const char *path = getenv("STRAND_TRUTH");
		fixture_truth_fp = path ? fopen(path, "w") : stderr;
		if (!fixture_truth_fp)
			fixture_truth_fp = stderr;
	}
	va_list ap;
	va_start(ap, fmt);
	vfprintf(fixture_truth_fp, fmt, ap);
	va_end(ap);
	fputc('\n', fixture_truth_fp);
	fflush(fixture_truth_fp);
	pthread_mutex_unlock(&fixture_truth_lock);
}

/* Record that the calling thread parks at this line (use on the same line as
 * the blocking call): its tid, name, function and line. */
#define FIXTURE_PARK(what)                                                                                      \
	fixture_truth("{\"kind\":\"park\",\"tid\":%d,\"function\":\"%s\",\"file\":\"%s\",\"line\":%d,\"what\":\"%s\"}", \
		      (int)gettid(), __func__, __FILE__, __LINE__, what)

/* Wait until n threads have called fixture_arrive(), then say ready. */
static pthread_mutex_t fixture_count_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t fixture_count_cond = PTHREAD_COND_INITIALIZER;
static int fixture_count;

static void __attribute__((unused)) fixture_arrive(void)
{
	pthread_mutex_lock(&fixture_count_lock);
	fixture_count++;
	pthread_cond_broadcast(&fixture_count_cond);
	pthread_mutex_unlock(&fixture_count_lock);
}

static void __attribute__((unused)) fixture_wait_arrivals(int n)
{
	pthread_mutex_lock(&fixture_count_lock);
	while (fixture_count < n)
		pthread_cond_wait(&fixture_count_cond, &fixture_count_lock);
	pthread_mutex_unlock(&fixture_count_lock);
}

/* Tell the test the fixture is in place. A short sleep first lets the
 * threads that just arrived enter their blocking calls. */
static void __attribute__((unused)) fixture_ready(void)
{
	usleep(100 * 1000);
	fixture_truth("{\"kind\":\"ready\",\"pid\":%d}", (int)getpid());
	if (write(1, "ready\n", 6) != 6)
		exit(3);
}

#endif
