/* x86_64 system call names, generated at build time from <asm/unistd_64.h>. */
#ifndef STRAND_SYSCALLS_H
#define STRAND_SYSCALLS_H

/* "futex" for 202; "syscall_N" (in a static buffer) when unknown. */
const char *syscall_name(long nr);
/* The number of a name, or -1. */
long syscall_number(const char *name);

#endif
