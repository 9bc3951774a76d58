/* Progress of long operations on stderr, only when stderr is a terminal, at
 * most ten updates a second: "gcore: 42% (430 MiB of 1.0 GiB)". */
#ifndef STRAND_PROGRESS_H
#define STRAND_PROGRESS_H

#include <stdint.h>

void progress_update(const char *what, uint64_t done, uint64_t total);
/* Erase the progress line, if one was drawn. */
void progress_done(void);

#endif
