#include "signals.h"

#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "target/live.h"
#include "session.h"

sigjmp_buf prompt_jump;
volatile int at_prompt;

static void write_str(const char *s)
{
	ssize_t r = write(STDERR_FILENO, s, strlen(s));
	(void)r;
}

/* Termination (SIGTERM, SIGHUP, SIGPIPE, batch SIGINT): detach, then die of
 * the same signal so the parent sees why. */
static void on_terminate(int sig)
{
	live_emergency_detach();
	signal(sig, SIG_DFL);
	raise(sig);
}

static void on_fatal(int sig)
{
	live_emergency_detach();
	write_str("strand: internal error (fatal signal); the target was detached and runs on\n");
	signal(sig, SIG_DFL);
	raise(sig);
}

static void on_interrupt(int sig)
{
	(void)sig;
	strand_interrupted = 1;
	if (at_prompt) {
		at_prompt = 0;
		siglongjmp(prompt_jump, 1);
	}
}

static void install(int sig, void (*fn)(int), int flags)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = fn;
	sa.sa_flags = flags;
	sigemptyset(&sa.sa_mask);
	sigaction(sig, &sa, NULL);
}

void signals_install(bool interactive)
{
	static const int terminate[] = { SIGTERM, SIGHUP, SIGPIPE, SIGQUIT };
	static const int fatal[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGSYS, SIGTRAP };
	for (size_t i = 0; i < sizeof(terminate) / sizeof(*terminate); i++)
		install(terminate[i], on_terminate, 0);
	for (size_t i = 0; i < sizeof(fatal) / sizeof(*fatal); i++)
		install(fatal[i], on_fatal, SA_NODEFER);
	install(SIGINT, interactive ? on_interrupt : on_terminate, 0);
}
