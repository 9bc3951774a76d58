/* help [COMMAND] */
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "commands.h"

static void out_command(struct out *o, const struct command *c)
{
	out_obj(o, NULL);
	out_strw(o, "name", -22, c->name);
	out_text(o, " -- ");
	out_str(o, "summary", c->summary);
	out_text(o, "\n");
	out_hide_text(o, true);
	out_str(o, "usage", c->usage);
	out_str(o, "aliases", c->aliases);
	out_hide_text(o, false);
	out_obj_end(o);
}

int cmd_help(struct session *s, const struct args *a)
{
	struct out *o = s->out;
	if (a->argc == 0) {
		out_text(o, "Commands (abbreviate any word to a unique prefix; \"help COMMAND\" for more):\n\n");
		out_list(o, "commands");
		for (size_t i = 0; i < command_count; i++)
			out_command(o, &command_table[i]);
		out_list_end(o);
		return 0;
	}
	struct args found;
	char **words;
	const struct command *c = command_lookup(a->rest, &found, &words);
	if (!c) {
		/* "help info": every command that starts with these words. */
		size_t len = strlen(a->rest), shown = 0;
		out_list(o, "commands");
		for (size_t i = 0; i < command_count; i++)
			if (!strncmp(command_table[i].name, a->rest, len) && command_table[i].name[len] == ' ') {
				out_command(o, &command_table[i]);
				shown++;
			}
		out_list_end(o);
		if (!shown)
			out_error(o, "Undefined command: \"%s\".  Try \"help\".", a->rest);
		return shown ? 0 : -1;
	}
	out_text(o, "Usage: ");
	out_str(o, "usage", c->usage);
	out_text(o, "\n");
	out_str(o, "summary", c->summary);
	out_text(o, "\n");
	if (c->aliases) {
		out_text(o, "Aliases: ");
		out_str(o, "aliases", c->aliases);
		out_text(o, "\n");
	}
	free(words);
	free((char *)found.rest);
	return 0;
}
