/* The core parser's refusals: what is not an x86_64 process core gets one
 * clear message. (Real cores are tested end to end in test_core.py.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../debugger/core.h"
#include "../../debugger/util.h"

static char *temp_with(const void *data, size_t len)
{
	char *path = strdup("/tmp/strand-unit-core-XXXXXX"); /* mkstemp's template: it replaces the Xs */
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
	return path;
}

static void refuses(const char *path, const char *message)
{
	struct target *t = core_open(path, NULL);
	assert_null(t);
	assert_non_null(strstr(error_get(), message));
}

static void refuses_what_is_not_a_core(void **state)
{
	(void)state;
	refuses("/nonexistent/core", "No such file or directory");
	refuses("/proc/self/exe", "not a core file");
	char *empty = temp_with("", 0);
	refuses(empty, "empty file, not a core");
	unlink(empty);
	free(empty);
	char *text = temp_with("hello, this is not ELF at all\n", 30);
	refuses(text, "not an ELF file");
	unlink(text);
	free(text);
}

/* An ELF header that claims to be a core of another machine. */
static void refuses_other_machines(void **state)
{
	(void)state;
	unsigned char eh[64] = { 0x7f, 'E', 'L', 'F', 2, 1, 1 };
	eh[16] = 4;  /* ET_CORE */
	eh[18] = 183; /* EM_AARCH64 */
	eh[20] = 1;  /* EV_CURRENT */
	eh[52] = 64; /* e_ehsize */
	char *path = temp_with(eh, sizeof(eh));
	refuses(path, "a core of another machine");
	unlink(path);
	free(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(refuses_what_is_not_a_core),
		cmocka_unit_test(refuses_other_machines),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
