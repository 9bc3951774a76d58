/* Stale pointers in the frames exit() leaves behind (LeakSanitizer's test
 * exit_atexit_stale_stack): an atexit handler, and a function main calls
 * just before exit, each allocate a block and keep the only pointer to it in
 * their own frame, then return. Those frames lie below exit's, where the
 * exit path's own small frames do not overwrite them all: whoever scans the
 * exiting thread's stack from its stack pointer in exit_group sees the
 * pointers. valgrind does not (memory below the stack pointer is not
 * scanned, nor the words exit's frames did not write), nor does
 * LeakSanitizer: both blocks are definitely lost. A block held by a global
 * is still reachable. Records each block as vg_shapes does. */
#include "fixture.h"

static FILE *commands;
void *g_kept;

static void record(void *p, const char *label, const char *cls, int line)
{
	fixture_truth("{\"kind\":\"block\",\"label\":\"%s\",\"addr\":\"%p\",\"line\":%d,\"class\":\"%s\","
		      "\"strand\":\"%s\",\"reason\":null}",
		      label, p, line, cls, cls);
	if (commands)
		fprintf(commands, "why %p %s\n", p, getenv("STRAND_WHY_OPTIONS") ? getenv("STRAND_WHY_OPTIONS") : "");
}

/* The only pointer to a new block, in many words of this frame: some lie
 * where no frame of the exit path writes. */
#define STALE_WORDS 48
#define LEAVE_STALE(label)                                                                    \
	do {                                                                                  \
		void *volatile slots[STALE_WORDS];                                            \
		void *p = malloc(48); record(p, label, "definitely lost", __LINE__);          \
		for (int i = 0; i < STALE_WORDS; i++)                                         \
			slots[i] = p;                                                         \
		p = slots[0] = NULL;                                                          \
	} while (0)

__attribute__((noinline)) static void at_exit_handler(void)
{
	LEAVE_STALE("left in an atexit handler's frame");
	if (commands)
		fclose(commands);
	fixture_truth("{\"kind\":\"done\"}");
}

__attribute__((noinline)) static void just_before_exit(void)
{
	LEAVE_STALE("left in the frame of a function called just before exit");
}

int main(void)
{
	const char *path = getenv("STRAND_COMMANDS");
	commands = path ? fopen(path, "w") : NULL;
	g_kept = malloc(48); record(g_kept, "held by a global", "still reachable", __LINE__);
	atexit(at_exit_handler); /* the last to run: closes commands, records "done" */
	just_before_exit();
	exit(0);
}
