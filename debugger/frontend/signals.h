/* strand's own signals. Whatever happens to strand, the target is detached:
 * termination requests and fatal signals detach first, then take their
 * default action; SIGINT in an interactive session only stops the command. */
#ifndef STRAND_SIGNALS_H
#define STRAND_SIGNALS_H

#include <setjmp.h>
#include <stdbool.h>

void signals_install(bool interactive);

/* The REPL sets this while readline waits, so that Ctrl-C abandons the line. */
extern sigjmp_buf prompt_jump;
extern volatile int at_prompt;

#endif
