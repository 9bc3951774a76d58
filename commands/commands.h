/* Every user command's handler; the table in table.c names them. */
#ifndef STRAND_COMMANDS_H
#define STRAND_COMMANDS_H

#include "frontend/command.h"
#include "session.h"

int cmd_arrays(struct session *s, const struct args *a);
int cmd_backtrace(struct session *s, const struct args *a);
int cmd_blocked(struct session *s, const struct args *a);
int cmd_detach(struct session *s, const struct args *a);
int cmd_disassemble(struct session *s, const struct args *a);
int cmd_down(struct session *s, const struct args *a);
int cmd_escape(struct session *s, const struct args *a);
int cmd_fds(struct session *s, const struct args *a);
int cmd_frame(struct session *s, const struct args *a);
int cmd_gcore(struct session *s, const struct args *a);
int cmd_goroutine(struct session *s, const struct args *a);
int cmd_goroutine_apply(struct session *s, const struct args *a);
/* blocked's part for a runtime with goroutines: what each waiting one waits
 * on. Returns the deadlocks and the waits that never end it found. */
int out_goroutine_waits(struct session *s);
int cmd_heap(struct session *s, const struct args *a);
int cmd_heap_block(struct session *s, const struct args *a);
int cmd_heap_blocks(struct session *s, const struct args *a);
int cmd_heap_check(struct session *s, const struct args *a);
int cmd_heap_histogram(struct session *s, const struct args *a);
int cmd_help(struct session *s, const struct args *a);
int cmd_info_args(struct session *s, const struct args *a);
int cmd_info_goroutines(struct session *s, const struct args *a);
int cmd_info_locals(struct session *s, const struct args *a);
int cmd_info_plugins(struct session *s, const struct args *a);
int cmd_info_proc_mappings(struct session *s, const struct args *a);
int cmd_info_registers(struct session *s, const struct args *a);
int cmd_info_sharedlibrary(struct session *s, const struct args *a);
int cmd_info_symbol(struct session *s, const struct args *a);
int cmd_info_threads(struct session *s, const struct args *a);
int cmd_leaks(struct session *s, const struct args *a);
int cmd_locks(struct session *s, const struct args *a);
int cmd_plugin_load(struct session *s, const struct args *a);
int cmd_print(struct session *s, const struct args *a);
int cmd_quit(struct session *s, const struct args *a);
int cmd_report(struct session *s, const struct args *a);
int cmd_set_output(struct session *s, const struct args *a);
int cmd_set_backtrace_past_main(struct session *s, const struct args *a);
int cmd_source(struct session *s, const struct args *a);
int cmd_thread(struct session *s, const struct args *a);
int cmd_thread_apply(struct session *s, const struct args *a);
int cmd_why(struct session *s, const struct args *a);
int cmd_x(struct session *s, const struct args *a);
int cmd_timers(struct session *s, const struct args *a);
int cmd_top(struct session *s, const struct args *a);
int cmd_up(struct session *s, const struct args *a);

/* commands/shared.c: what several commands share. */

/* Leak options shared by leaks, why and top: --no-registers ... --unaligned,
 * --heuristics=SET, --interior=MODE. Returns the other words (malloc'd,
 * *argc of them) for the command to parse; NULL after an error for a bad
 * value. */
struct reach_opts;
struct reach;
struct root_edge;
char **take_reach_opts(struct session *s, const struct args *a, struct reach_opts *opts, int *argc);
/* The session's reachability for opts, with what the command needs of it
 * (the classes, every edge, the dominator tree too: reach.h), or NULL after
 * reporting why not. */
enum reach_need { NEED_CLASSES, NEED_GRAPH, NEED_RETAINED };
const struct reach *reach_or_error(struct session *s, const struct reach_opts *opts, enum reach_need need);
/* What an analysis says of a heap whose walk met problems. */
const char *incomplete_heap(const struct heap *h);
/* "register rdi of thread 2 (LWP 123)", "frame #3 of thread 2 in f (f.c:12), local `p`", ... */
void out_root_edge(struct session *s, const struct reach *r, const struct root_edge *e);
/* "[mutex, 5 seconds]": what a thread waits on and since when. */
struct thread_wait;
void out_wait_brief(struct session *s, const struct thread_wait *w);

/* Commands whose only option is "OPT N" (a size, K/M/G allowed) or
 * "--error-exitcode N": true with the value set when given, untouched when
 * absent; false after printing the usage. */
bool option_size(struct session *s, const struct args *a, const char *opt, uint64_t *size);
bool option_exitcode(struct session *s, const struct args *a, long *code);

/* The POSIX timers and timerfds of a live process (fds.c), for timers. */
int out_posix_timers(struct session *s);

/* Shared by the thread commands: "Thread 0x7f.. (LWP 123)" fields. */
void out_thread_id(struct session *s, size_t index);
/* Parse a gdb thread number (1-based) into an index. */
bool parse_thread_number(struct session *s, const char *word, size_t *index);

#endif
