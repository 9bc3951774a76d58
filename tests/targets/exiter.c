/* For strand run: threads parked in known places when the process exits.
 *   exiter exit     three parked threads; main calls exit(3)
 *   exiter return   main returns 0 while three threads are parked
 *   exiter abort    main aborts (SIGABRT) while three threads are parked
 *   exiter threads  every thread returns first, then main exits with 5
 *   exiter fork     a child process exits with 7; the parent waits, exits 0
 * It also sends itself SIGUSR1 and checks it arrived (strand must pass signals on). */
#include "fixture.h"

#include <signal.h>
#include <sys/wait.h>

static volatile sig_atomic_t got_usr1;
static pthread_barrier_t parked;

static void on_usr1(int sig)
{
	(void)sig;
	got_usr1 = 1;
}

__attribute__((noinline)) static void park_forever(int id)
{
	volatile int my_id = id;
	pthread_barrier_wait(&parked);
	FIXTURE_PARK("sleep"); for (;;) sleep(100 + (unsigned)my_id);
}

static void *parker(void *arg)
{
	park_forever((int)(long)arg);
	return NULL;
}

static void *returner(void *arg)
{
	(void)arg;
	return NULL;
}

static void check_signal(void)
{
	signal(SIGUSR1, on_usr1);
	raise(SIGUSR1);
	if (!got_usr1) {
		fprintf(stderr, "SIGUSR1 lost\n");
		exit(90);
	}
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "exit";
	check_signal();
	if (!strcmp(mode, "fork")) {
		pid_t pid = fork();
		if (pid == 0)
			_exit(7);
		int status;
		waitpid(pid, &status, 0);
		return WIFEXITED(status) && WEXITSTATUS(status) == 7 ? 0 : 1;
	}
	if (!strcmp(mode, "threads")) {
		pthread_t t[3];
		for (long i = 0; i < 3; i++)
			pthread_create(&t[i], NULL, returner, NULL);
		for (int i = 0; i < 3; i++)
			pthread_join(t[i], NULL);
		exit(5);
	}
	pthread_barrier_init(&parked, NULL, 4);
	for (long i = 0; i < 3; i++) {
		pthread_t t;
		pthread_create(&t, NULL, parker, (void *)i);
	}
	pthread_barrier_wait(&parked);
	usleep(50 * 1000);
	if (!strcmp(mode, "abort"))
		abort();
	if (!strcmp(mode, "return"))
		return 0;
	FIXTURE_PARK("exit"); exit(3);
}
