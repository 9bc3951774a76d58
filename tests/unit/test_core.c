/* The core parser's refusals: what is not an x86_64 process core gets one
 * clear message. And pages a core omits, as gdb's gcore omits them (no
 * segment at all for a file mapping), read from the file only when its
 * build-id matches. (Real cores are tested end to end in test_core.py and
 * test_gdb_cores.py.) */
#include <elf.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/procfs.h>
#include <unistd.h>

#include <cmocka.h>

#include "target/core.h"
#include "base/util.h"

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

#define BASE 0x400000ull

static void add_note(unsigned char *buf, size_t *len, uint32_t type, const void *desc, size_t n)
{
	Elf64_Nhdr nh = { .n_namesz = 5, .n_descsz = (uint32_t)n, .n_type = type };
	memcpy(buf + *len, &nh, sizeof(nh));
	memcpy(buf + *len + sizeof(nh), "CORE\0\0\0", 8);
	memcpy(buf + *len + sizeof(nh) + 8, desc, n);
	*len += sizeof(nh) + 8 + ((n + 3) & ~(size_t)3);
}

/* A core as gdb writes one: a thread, NT_FILE naming path at BASE (its first
 * page, at file offset 0) and BASE + 0x1000 (two pages at file offset
 * 0x1000), and one segment holding the first page only, taken from header. */
static char *gdb_like_core(const char *path, const char *header)
{
	static unsigned char notes[8192], page[4096];
	size_t len = 0;
	struct elf_prstatus st = { .pr_pid = 42 };
	st.pr_reg[15] = (unsigned long)-1; /* orig_rax: in no system call */
	add_note(notes, &len, NT_PRSTATUS, &st, sizeof(st));
	unsigned char files[512] = { 0 };
	uint64_t head[2 + 6] = { 2, 4096, BASE, BASE + 0x1000, 0, BASE + 0x1000, BASE + 0x3000, 1 };
	memcpy(files, head, sizeof(head));
	size_t n = sizeof(head), plen = strlen(path) + 1;
	memcpy(files + n, path, plen);
	memcpy(files + n + plen, path, plen);
	add_note(notes, &len, NT_FILE, files, n + 2 * plen);
	FILE *f = fopen(header, "rb");
	assert_non_null(f);
	assert_int_equal(fread(page, 1, sizeof(page), f), sizeof(page));
	fclose(f);

	Elf64_Ehdr eh = { .e_type = ET_CORE, .e_machine = EM_X86_64, .e_version = EV_CURRENT, .e_phoff = sizeof(eh),
			  .e_ehsize = sizeof(eh), .e_phentsize = sizeof(Elf64_Phdr), .e_phnum = 2 };
	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS64;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_ident[EI_VERSION] = EV_CURRENT;
	size_t notes_at = sizeof(eh) + 2 * sizeof(Elf64_Phdr), load_at = notes_at + len;
	Elf64_Phdr ph[2] = {
		{ .p_type = PT_NOTE, .p_offset = notes_at, .p_filesz = len },
		{ .p_type = PT_LOAD, .p_flags = PF_R, .p_offset = load_at, .p_vaddr = BASE, .p_filesz = 4096,
		  .p_memsz = 4096 },
	};
	size_t total = load_at + sizeof(page);
	unsigned char *image = calloc(1, total);
	memcpy(image, &eh, sizeof(eh));
	memcpy(image + sizeof(eh), ph, sizeof(ph));
	memcpy(image + notes_at, notes, len);
	memcpy(image + load_at, page, sizeof(page));
	char *core = temp_with(image, total);
	free(image);
	return core;
}

static char warnings[4][300];
static int nwarnings;

static void keep_warning(void *arg, const char *msg)
{
	(void)arg;
	if (nwarnings < 4)
		snprintf(warnings[nwarnings], sizeof(warnings[0]), "%s", msg);
	nwarnings++;
}

/* The flags of the file's loadable segment holding offset off. */
static uint32_t segment_flags_at(const char *path, uint64_t off)
{
	FILE *f = fopen(path, "rb");
	Elf64_Ehdr eh;
	Elf64_Phdr ph;
	assert_int_equal(fread(&eh, sizeof(eh), 1, f), 1);
	uint32_t flags = 0;
	for (size_t i = 0; i < eh.e_phnum; i++) {
		fseek(f, (long)(eh.e_phoff + i * sizeof(ph)), SEEK_SET);
		assert_int_equal(fread(&ph, sizeof(ph), 1, f), 1);
		if (ph.p_type == PT_LOAD && (ph.p_offset & ~0xfffull) <= off && off < ph.p_offset + ph.p_filesz)
			flags = ph.p_flags;
	}
	fclose(f);
	return flags;
}

static void omitted_pages_come_from_a_matching_file(void **state)
{
	(void)state;
	char exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	assert_true(n > 0);
	exe[n] = '\0';
	char *core = gdb_like_core(exe, exe);
	struct core_opts opts = { .warn = keep_warning };
	nwarnings = 0;
	struct target *t = core_open(core, &opts);
	assert_non_null(t);
	/* The pages without a segment are a mapping, with the file's permissions. */
	const struct mapping *m = target_mapping(t, BASE + 0x1800);
	assert_non_null(m);
	assert_int_equal(m->start, BASE + 0x1000);
	assert_int_equal(m->end, BASE + 0x3000);
	uint32_t flags = segment_flags_at(exe, 0x1000);
	assert_int_equal(!!(m->perms & MAP_X), !!(flags & PF_X));
	unsigned char got[64], want[64];
	assert_int_equal(target_read(t, BASE + 0x1f00, got, sizeof(got)), sizeof(got));
	FILE *f = fopen(exe, "rb");
	fseek(f, 0x1f00, SEEK_SET);
	assert_int_equal(fread(want, 1, sizeof(want), f), sizeof(want));
	fclose(f);
	assert_memory_equal(got, want, sizeof(got));
	assert_null(target_omitted(t, BASE, 0x3000));
	assert_int_equal(nwarnings, 0);
	target_free(t);
	unlink(core);
	free(core);
}

/* The core records exe's build-id; another file, or none, supplies nothing,
 * and says so once however often it is asked. */
static void refused(const char *path, const char *exe, const char *why)
{
	char *core = gdb_like_core(path, exe);
	struct core_opts opts = { .warn = keep_warning };
	nwarnings = 0;
	struct target *t = core_open(core, &opts);
	assert_non_null(t);
	unsigned char buf[16];
	for (int i = 0; i < 3; i++)
		assert_int_equal(target_read(t, BASE + 0x1000 + 4096 * (uint64_t)(i % 2), buf, sizeof(buf)), 0);
	assert_string_equal(target_omitted(t, BASE, 0x3000), path);
	assert_null(target_omitted(t, BASE, 0x1000)); /* the header page is in the core */
	assert_int_equal(nwarnings, 1);
	assert_non_null(strstr(warnings[0], path));
	assert_non_null(strstr(warnings[0], why));
	target_free(t);
	unlink(core);
	free(core);
}

static void other_or_missing_files_are_refused_once(void **state)
{
	(void)state;
	char exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	assert_true(n > 0);
	exe[n] = '\0';
	refused("/nonexistent/strand-unit-lib.so", exe, "not found");
	refused("/proc/self/cmdline", exe, "not an ELF file");
	refused("/bin/sh", exe, "build-id differs");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(refuses_what_is_not_a_core),
		cmocka_unit_test(refuses_other_machines),
		cmocka_unit_test(omitted_pages_come_from_a_matching_file),
		cmocka_unit_test(other_or_missing_files_are_refused_once),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
