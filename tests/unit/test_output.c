/* The output layer: the same calls rendered as text and as JSON. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/output.h"
#include "base/util.h"

struct capture {
	char *buf;
	size_t len;
	FILE *fp;
	char *ebuf;
	size_t elen;
	FILE *err;
};

static struct out *open_capture(struct capture *c, enum out_mode mode)
{
	c->fp = open_memstream(&c->buf, &c->len);
	c->err = open_memstream(&c->ebuf, &c->elen);
	return out_new(mode, c->fp, c->err);
}

static void close_capture(struct capture *c, struct out *o)
{
	out_free(o);
	fclose(c->fp);
	fclose(c->err);
}

/* A small frame-like document, described once. */
static void describe(struct out *o)
{
	out_begin(o, "bt");
	out_list(o, "frames");
	out_obj(o, NULL);
	out_text(o, "#");
	out_intw(o, "level", -3, 0);
	out_addr(o, "pc", 0x7f00001234);
	out_text(o, " in ");
	out_str(o, "function", "park \"q\"");
	out_hide_text(o, true);
	out_bool(o, "inlined", false);
	out_null(o, "file");
	out_hide_text(o, false);
	out_text(o, " ()\n");
	out_obj_end(o);
	out_list_end(o);
}

static void text_renders_values_and_decoration(void **state)
{
	(void)state;
	struct capture c;
	struct out *o = open_capture(&c, OUT_TEXT);
	describe(o);
	assert_int_equal(out_end(o), 0);
	fflush(c.fp);
	assert_string_equal(c.buf, "#0  0x0000007f00001234 in park \"q\" ()\n");
	close_capture(&c, o);
	free(c.buf);
	free(c.ebuf);
}

static void json_renders_named_fields_only(void **state)
{
	(void)state;
	struct capture c;
	struct out *o = open_capture(&c, OUT_JSON);
	describe(o);
	assert_int_equal(out_end(o), 0);
	fflush(c.fp);
	assert_string_equal(c.buf, "{\"command\":\"bt\",\"frames\":[{\"level\":0,\"pc\":\"0x7f00001234\","
				   "\"function\":\"park \\\"q\\\"\",\"inlined\":false,\"file\":null}]}\n");
	close_capture(&c, o);
	free(c.buf);
	free(c.ebuf);
}

static void errors_and_warnings(void **state)
{
	(void)state;
	struct capture c;
	struct out *o = open_capture(&c, OUT_JSON);
	out_begin(o, "x/4x 0");
	out_warn(o, "twice");
	out_warn(o, "twice");
	out_error(o, "Cannot access memory at address 0x0");
	assert_int_equal(out_end(o), -1);
	fflush(c.fp);
	assert_string_equal(c.buf, "{\"command\":\"x/4x 0\",\"warnings\":[\"twice\"],"
				   "\"error\":\"Cannot access memory at address 0x0\"}\n");
	close_capture(&c, o);
	free(c.buf);
	free(c.ebuf);

	o = open_capture(&c, OUT_TEXT);
	out_begin(o, "x/4x 0");
	out_warn(o, "once");
	out_warn(o, "once");
	out_error(o, "Cannot access memory at address 0x0");
	out_end(o);
	fflush(c.err);
	assert_string_equal(c.ebuf, "warning: once\nCannot access memory at address 0x0\n");
	close_capture(&c, o);
	free(c.buf);
	free(c.ebuf);
}

static void nested_documents(void **state)
{
	(void)state;
	struct capture c;
	struct out *o = open_capture(&c, OUT_JSON);
	out_begin(o, "thread apply all bt");
	out_list(o, "threads");
	out_obj(o, NULL);
	out_int(o, "id", 2);
	out_begin(o, "bt");
	out_list(o, "frames");
	out_list_end(o);
	out_error(o, "No stack.");
	assert_int_equal(out_end(o), -1);
	out_obj_end(o);
	out_list_end(o);
	assert_int_equal(out_end(o), 0); /* one thread failing does not fail the whole */
	fflush(c.fp);
	assert_string_equal(c.buf, "{\"command\":\"thread apply all bt\",\"threads\":[{\"id\":2,\"result\":"
				   "{\"command\":\"bt\",\"frames\":[],\"error\":\"No stack.\"}}]}\n");
	close_capture(&c, o);
	free(c.buf);
	free(c.ebuf);
}

static void json_strings_are_always_valid(void **state)
{
	(void)state;
	struct strbuf sb = STRBUF_INIT;
	json_quote(&sb, "a\tb\n\x01\x7f\xff\xc3\xa9");
	assert_string_equal(sb_str(&sb), "\"a\\tb\\n\\u0001\\u007f\\u00ff\xc3\xa9\"");
	sb_release(&sb);
}

/* A warning from below the commands, while a text line is being printed (a
 * file read lazily for it), goes out when that line ends, not inside it. */
static void warnings_wait_for_the_line_to_end(void **state)
{
	(void)state;
	char *buf;
	size_t len;
	FILE *both = open_memstream(&buf, &len);
	struct out *o = out_new(OUT_TEXT, both, both);
	out_begin(o, "info plugins");
	out_strw(o, "name", -8, "glibc");
	out_stderr_warning(o, "libc.so.6: not found");
	out_text(o, ", detected\n    more\n");
	out_stderr_warning(o, "at a line's start");
	out_text(o, "x");
	out_warn(o, "in a line");
	out_text(o, "y\n");
	out_end(o);
	out_free(o);
	fclose(both);
	assert_string_equal(buf, "glibc   , detected\nwarning: libc.so.6: not found\n    more\n"
				 "warning: at a line's start\nxy\nwarning: in a line\n");
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(text_renders_values_and_decoration),
		cmocka_unit_test(json_renders_named_fields_only),
		cmocka_unit_test(errors_and_warnings),
		cmocka_unit_test(nested_documents),
		cmocka_unit_test(json_strings_are_always_valid),
		cmocka_unit_test(warnings_wait_for_the_line_to_end),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
