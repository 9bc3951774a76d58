/* The one table of every command: name, aliases, handler, flags, arity, usage
 * and a summary for `help`. Keep it sorted by name. */
#include "commands.h"

#include "../debugger/util.h"

const struct command command_table[] = {
	{ "backtrace", "bt|where", cmd_backtrace, CMD_TARGET | CMD_STOPPED, 0, 2, "backtrace [full] [N|-N]",
	  "stack of the selected thread; full adds locals" },
	{ "detach", NULL, cmd_detach, CMD_TARGET, 0, 0, "detach", "let the process run again and end the session" },
	{ "disassemble", NULL, cmd_disassemble, CMD_TARGET, 0, -1, "disassemble [ADDRESS|FUNCTION]",
	  "machine code of the function around ADDRESS (default: the selected frame's pc)" },
	{ "down", NULL, cmd_down, CMD_TARGET, 0, 1, "down [N]", "select the frame N (1) levels in (callee)" },
	{ "frame", "f", cmd_frame, CMD_TARGET, 0, 1, "frame [N]", "select and print stack frame N" },
	{ "gcore", "generate-core-file", cmd_gcore, CMD_TARGET | CMD_LIVE, 0, 1, "gcore [FILE]",
	  "write a core file of the process (default core.PID)" },
	{ "help", "h", cmd_help, 0, 0, -1, "help [COMMAND]", "list commands, or describe one" },
	{ "info args", NULL, cmd_info_args, CMD_TARGET | CMD_STOPPED, 0, 0, "info args",
	  "arguments of the selected frame" },
	{ "info locals", NULL, cmd_info_locals, CMD_TARGET | CMD_STOPPED, 0, 0, "info locals",
	  "local variables of the selected frame" },
	{ "info proc mappings", NULL, cmd_info_proc_mappings, CMD_TARGET, 0, 0, "info proc mappings",
	  "memory mappings of the target" },
	{ "info registers", NULL, cmd_info_registers, CMD_TARGET, 0, -1, "info registers [NAME...]",
	  "registers of the selected frame" },
	{ "info sharedlibrary", NULL, cmd_info_sharedlibrary, CMD_TARGET, 0, 0, "info sharedlibrary",
	  "loaded modules, their addresses and symbols" },
	{ "info symbol", NULL, cmd_info_symbol, CMD_TARGET, 1, -1, "info symbol ADDRESS",
	  "the symbol, section and module an address belongs to" },
	{ "info threads", NULL, cmd_info_threads, CMD_TARGET, 0, -1, "info threads [ID...]",
	  "every thread and where it is" },
	{ "print", "p|output|inspect", cmd_print, CMD_TARGET, 1, -1, "print[/x] EXPRESSION",
	  "value of a variable: names, *, &, ., ->, [N], $registers" },
	{ "quit", "q|exit", cmd_quit, 0, 0, 1, "quit [EXIT-CODE]", "detach and leave strand" },
	{ "set output", NULL, cmd_set_output, 0, 1, 1, "set output text|json", "choose the output format" },
	{ "source", NULL, cmd_source, CMD_NO_DOC, 1, 1, "source FILE", "run the commands in FILE" },
	{ "thread", "t", cmd_thread, CMD_TARGET, 0, 1, "thread [ID]", "show or select the current thread" },
	{ "thread apply", NULL, cmd_thread_apply, CMD_TARGET, 2, -1, "thread apply all|ID... COMMAND",
	  "run COMMAND for several threads" },
	{ "x", NULL, cmd_x, CMD_TARGET, 1, -1, "x[/FMT] ADDRESS",
	  "examine memory: FMT is [COUNT][xduotcasi][bhwg], e.g. x/4xg $sp, x/s str, x/5i $pc" },
	{ "up", NULL, cmd_up, CMD_TARGET, 0, 1, "up [N]", "select the frame N (1) levels out (caller)" },
};

const size_t command_count = ARRAY_SIZE(command_table);
