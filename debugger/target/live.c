#include "live.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proc.h"
#include "syscalls.h"
#include "base/util.h"

#define PF_KTHREAD 0x00200000UL

struct live {
	int mem_fd;     /* /proc/PID/mem, the fallback when process_vm_readv fails */
	int pagemap_fd; /* /proc/PID/pagemap: which pages were never written */
	bool attached;
};

/* Every thread strand has seized, for live_emergency_detach(). Only one live
 * target exists at a time. Written before the seize, so a handler never misses one. */
static volatile pid_t *tracees;
static volatile size_t ntracees;
static size_t tracees_cap;

static void tracee_add(pid_t tid)
{
	if (ntracees == tracees_cap) {
		size_t cap = tracees_cap ? tracees_cap * 2 : 64;
		pid_t *v = xmalloc(cap * sizeof(*v));
		for (size_t i = 0; i < ntracees; i++)
			v[i] = tracees[i];
		pid_t *old = (pid_t *)tracees;
		tracees = v; /* the handler sees either array, both complete */
		tracees_cap = cap;
		free(old);
	}
	tracees[ntracees] = tid;
	ntracees = ntracees + 1;
}

static void sleep_us(long us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };
	nanosleep(&ts, NULL);
}

/* Detach one thread that may or may not be in a ptrace-stop. Async-signal-safe. */
static void detach_thread(pid_t tid, int sig)
{
	if (ptrace(PTRACE_DETACH, tid, 0, (void *)(long)sig) == 0 || errno != ESRCH)
		return;
	/* Not stopped (seized but not yet interrupted) or gone: stop it, then detach. */
	if (ptrace(PTRACE_INTERRUPT, tid, 0, 0) != 0)
		return;
	for (int i = 0; i < 2000; i++) {
		int status;
		pid_t r = waitpid(tid, &status, __WALL | WNOHANG);
		if (r == tid) {
			if (WIFSTOPPED(status) && (status >> 16) == 0 && !sig)
				sig = WSTOPSIG(status); /* a signal arrived meanwhile: keep it */
			if (WIFSTOPPED(status))
				ptrace(PTRACE_DETACH, tid, 0, (void *)(long)sig);
			return;
		}
		if (r < 0)
			return;
		sleep_us(500);
	}
}

void live_emergency_detach(void)
{
	size_t n = ntracees;
	volatile pid_t *v = tracees;
	for (size_t i = 0; i < n; i++)
		detach_thread(v[i], 0);
	ntracees = 0;
}

static size_t read_copy(struct target *t, uint64_t addr, void *buf, size_t len)
{
	struct live *l = t->priv;
	struct iovec local = { buf, len }, remote = { (void *)(uintptr_t)addr, len };
	ssize_t n = process_vm_readv(t->pid, &local, 1, &remote, 1, 0);
	if (n > 0)
		return (size_t)n;
	if (l->mem_fd < 0)
		return 0;
	n = pread(l->mem_fd, buf, len, (off_t)addr);
	return n > 0 ? (size_t)n : 0;
}

#define PM_PRESENT (1ull << 63)
#define PM_HAS_DATA (3ull << 62)  /* present in RAM, or swapped out */
#define PM_EXCLUSIVE (1ull << 56)
#define PM_PFN ((1ull << 55) - 1)
#define PAGEMAP_BATCH 512

/* The pagemap entries of the pages from page on, up to the one holding end-1
 * and at most PAGEMAP_BATCH of them: the count read, 0 on failure. */
static size_t pagemap_batch(int fd, uint64_t page, uint64_t end, uint64_t *entries)
{
	size_t want = (end - page + 4095) / 4096;
	want = want < PAGEMAP_BATCH ? want : PAGEMAP_BATCH;
	ssize_t got = fd >= 0 ? pread(fd, entries, want * 8, (off_t)(page / 4096 * 8)) : -1;
	return got > 0 ? (size_t)got / 8 : 0;
}

/* Never-written anonymous memory reads as zeros, but reading it through the
 * kernel makes the target fault it in: on kernels without a shared zero page
 * for such faults, it becomes resident, and strand would grow the target's
 * RSS. So reads of private anonymous memory ask pagemap first (reads come
 * in 64 KiB cache lines: one look-up each) and fill the pages that hold
 * nothing with zeros. */
static size_t read_sparse(struct target *t, uint64_t addr, uint8_t *out, size_t len)
{
	struct live *l = t->priv;
	size_t done = 0;
	while (done < len) {
		uint64_t page = (addr + done) & ~4095ull, entries[PAGEMAP_BATCH];
		size_t got = pagemap_batch(l->pagemap_fd, page, addr + len, entries);
		if (!got)
			return done + read_copy(t, addr + done, out + done, len - done);
		for (size_t i = 0; i < got && done < len;) {
			bool data = entries[i] & PM_HAS_DATA;
			size_t j = i + 1;
			while (j < got && (bool)(entries[j] & PM_HAS_DATA) == data)
				j++;
			uint64_t run_end = page + j * 4096 < addr + len ? page + j * 4096 : addr + len;
			size_t n = (size_t)(run_end - (addr + done)), copied = n;
			if (!data)
				memset(out + done, 0, n);
			else
				copied = read_copy(t, addr + done, out + done, n);
			done += copied;
			if (copied < n)
				return done;
			i = j;
		}
	}
	return done;
}

/* Reading memory that was never written maps the kernel's shared zero page
 * there (on most kernels), and pagemap calls it present although it costs no
 * RAM. Its frame number, from a fresh page of our own read once;
 * 0 when frame numbers are hidden (no CAP_SYS_ADMIN). */
static uint64_t zero_page_pfn(void)
{
	static uint64_t pfn = UINT64_MAX;
	if (pfn != UINT64_MAX)
		return pfn;
	pfn = 0;
	volatile char *page = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	uint64_t entry;
	if (page != MAP_FAILED && fd >= 0) {
		(void)page[0]; /* a read fault maps the zero page */
		if (pread(fd, &entry, 8, (off_t)((uintptr_t)page / 4096 * 8)) == 8 && (entry & PM_PRESENT))
			pfn = entry & PM_PFN;
	}
	if (fd >= 0)
		close(fd);
	if (page != MAP_FAILED)
		munmap((void *)page, 4096);
	return pfn;
}

/* Whether a pagemap entry is a page of RAM this mapping really uses. */
static bool page_in_ram(uint64_t entry, uint64_t zero_pfn)
{
	if (!(entry & PM_PRESENT))
		return false;
	/* Frame numbers visible: anything but the zero page. Hidden: the zero
	 * page is never exclusively mapped, a written private page is (unless a
	 * fork shares it, which this undercounts). */
	return zero_pfn ? (entry & PM_PFN) != zero_pfn : (entry & PM_EXCLUSIVE) != 0;
}

int64_t live_resident_bytes(struct target *t, uint64_t addr, uint64_t len)
{
	if (t->kind != TARGET_LIVE)
		return -1;
	struct live *l = t->priv;
	uint64_t zero_pfn = zero_page_pfn(), entries[PAGEMAP_BATCH];
	int64_t resident = 0;
	for (uint64_t page = addr & ~4095ull; page < addr + len;) {
		size_t got = pagemap_batch(l->pagemap_fd, page, addr + len, entries);
		if (!got)
			return -1;
		for (size_t i = 0; i < got; i++)
			resident += page_in_ram(entries[i], zero_pfn) ? 4096 : 0;
		page += got * 4096;
	}
	return resident;
}

/* Mapping by mapping: sparse reads where memory is private and anonymous. */
static size_t live_read(struct target *t, uint64_t addr, void *buf, size_t len)
{
	struct live *l = t->priv;
	uint8_t *out = buf;
	size_t done = 0;
	while (done < len) {
		uint64_t at = addr + done;
		const struct mapping *m = target_mapping(t, at);
		/* Never touch an address outside every mapping: just below a stack,
		 * the kernel would grow the stack to serve the read. Before the
		 * mappings are known, read as asked. */
		if (!m && t->maps.n)
			break;
		size_t n = m && m->end - at < len - done ? (size_t)(m->end - at) : len - done;
		bool sparse = m && l->pagemap_fd >= 0 && !mapping_is_file(m) && !(m->perms & MAP_SHARED_);
		size_t got = sparse ? read_sparse(t, at, out + done, n) : read_copy(t, at, out + done, n);
		done += got;
		if (got < n || !m)
			break;
	}
	return done;
}

static void live_detach(struct target *t)
{
	struct live *l = t->priv;
	if (!l->attached)
		return;
	for (size_t i = 0; i < t->nthreads; i++) {
		struct thread *th = &t->threads[i];
		detach_thread(th->tid, th->pending_signal);
		th->pending_signal = 0;
	}
	/* Threads seized but since dropped from the list (they exited) need nothing. */
	ntracees = 0;
	l->attached = false;
	t->stopped = false;
}

static void live_destroy(struct target *t)
{
	struct live *l = t->priv;
	if (l->mem_fd >= 0)
		close(l->mem_fd);
	if (l->pagemap_fd >= 0)
		close(l->pagemap_fd);
	free(l);
}

static const struct target_ops live_ops = {
	.name = "live",
	.read = live_read,
	.detach = live_detach,
	.destroy = live_destroy,
};

bool syscall_returns_eintr_on_stop(long nr, const char *fd_link)
{
	switch (nr) {
	case SYS_epoll_wait:
	case SYS_epoll_pwait:
	case SYS_epoll_pwait2:
	case SYS_io_getevents:
	case SYS_io_pgetevents:
	case SYS_semop:
	case SYS_semtimedop:
	case SYS_rt_sigtimedwait:
		return true;
	case SYS_read:
	case SYS_readv:
		return fd_link && strstr(fd_link, "inotify");
	default:
		return false;
	}
}

static void warn(const struct attach_opts *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warn(const struct attach_opts *o, const char *fmt, ...)
{
	if (!o->warn)
		return;
	struct strbuf sb = STRBUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	sb_vaddf(&sb, fmt, ap);
	va_end(ap);
	o->warn(o->warn_arg, sb_str(&sb));
	sb_release(&sb);
}

/* Explain an EPERM from ptrace in terms the user can act on. */
static int permission_error(pid_t pid)
{
	char tracer[32] = "", uid[64] = "";
	long tracer_pid = 0;
	if (proc_status_field(pid, "TracerPid", tracer, sizeof(tracer)) && parse_int(tracer, &tracer_pid) &&
	    tracer_pid) {
		char name[32];
		proc_thread_name((pid_t)tracer_pid, (pid_t)tracer_pid, name, sizeof(name));
		return error_set("cannot attach to process %d: already traced by process %ld (%s)", (int)pid,
				 tracer_pid, name[0] ? name : "?");
	}
	char *scope = read_file("/proc/sys/kernel/yama/ptrace_scope", NULL);
	long s = scope ? strtol(scope, NULL, 10) : 0;
	free(scope);
	long target_uid = -1;
	if (proc_status_field(pid, "Uid", uid, sizeof(uid)))
		target_uid = strtol(uid, NULL, 10);
	if (target_uid >= 0 && (uid_t)target_uid != geteuid() && geteuid() != 0)
		return error_set("cannot attach to process %d: permission denied (it belongs to uid %ld and you are "
				 "uid %d without CAP_SYS_PTRACE; run strand as that user or as root)",
				 (int)pid, target_uid, (int)geteuid());
	if (s >= 1)
		return error_set("cannot attach to process %d: permission denied (kernel.yama.ptrace_scope is %ld: "
				 "%s; run as root, or: sysctl kernel.yama.ptrace_scope=0)",
				 (int)pid, s,
				 s == 1 ? "only a parent may trace its children" :
				 s == 2 ? "only CAP_SYS_PTRACE may trace" : "ptrace is disabled");
	return error_set("cannot attach to process %d: permission denied (strand needs CAP_SYS_PTRACE or the "
			 "same user; a setuid or non-dumpable process needs root)",
			 (int)pid);
}

/* Refuse what cannot be attached to, before touching it. */
static int check_attachable(pid_t pid)
{
	char state[64] = "";
	if (kill(pid, 0) != 0 && errno == ESRCH)
		return error_set("cannot attach to process %d: no such process", (int)pid);
	if (!proc_status_field(pid, "State", state, sizeof(state)))
		return errno == EACCES ? permission_error(pid)
				       : error_set("cannot attach to process %d: no such process", (int)pid);
	unsigned long flags;
	if (proc_flags(pid, &flags) && (flags & PF_KTHREAD)) {
		char name[32];
		proc_thread_name(pid, pid, name, sizeof(name));
		return error_set("cannot attach to process %d: it is a kernel thread (%s), with no user memory to "
				 "inspect", (int)pid, name);
	}
	pid_t *tids;
	int n = proc_tasks(pid, &tids);
	free(tids);
	if (state[0] == 'Z' && n <= 1)
		return error_set("cannot attach to process %d: it is a zombie (it has exited and waits for its parent "
				 "to reap it; nothing is left to inspect)", (int)pid);
	char tracer[32];
	long tracer_pid;
	if (proc_status_field(pid, "TracerPid", tracer, sizeof(tracer)) && parse_int(tracer, &tracer_pid) &&
	    tracer_pid)
		return permission_error(pid);
	return 0;
}

static void read_thread_identity(struct target *t, struct thread *th)
{
	proc_thread_name(t->pid, th->tid, th->name, sizeof(th->name));
	th->state = proc_thread_state(t->pid, th->tid);
}

/* What each thread is blocked in before strand stops anything: to warn about
 * calls a stop will interrupt, and to confirm the call found in the registers. */
struct before_stop {
	pid_t tid;
	struct proc_syscall sc;
	double idle; /* seconds since it last ran: a stop would reset that */
};

static size_t snapshot_syscalls(pid_t pid, struct before_stop **out)
{
	pid_t *tids;
	int n = proc_tasks(pid, &tids);
	struct before_stop *v = xcalloc(n > 0 ? (size_t)n : 1, sizeof(*v));
	for (int i = 0; i < n; i++) {
		v[i].tid = tids[i];
		proc_syscall(pid, tids[i], &v[i].sc);
		v[i].idle = proc_thread_idle_seconds(pid, tids[i]);
	}
	free(tids);
	*out = v;
	return n > 0 ? (size_t)n : 0;
}

static void warn_eintr(pid_t pid, const struct before_stop *v, size_t n, const struct attach_opts *o)
{
	for (size_t i = 0; i < n; i++) {
		const struct proc_syscall *sc = &v[i].sc;
		if (sc->running || sc->nr < 0)
			continue;
		char link[128] = "", path[64], name[32];
		snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)pid, (int)sc->args[0]);
		ssize_t len = (sc->nr == SYS_read || sc->nr == SYS_readv) ? readlink(path, link, sizeof(link) - 1) : -1;
		link[len > 0 ? len : 0] = '\0';
		if (!syscall_returns_eintr_on_stop(sc->nr, link))
			continue;
		proc_thread_name(pid, v[i].tid, name, sizeof(name));
		warn(o, "stopping thread %d (%s) interrupts its %s(): it will return EINTR; use --no-stop to "
		     "inspect without stopping", (int)v[i].tid, name, syscall_name(sc->nr));
	}
}

/* Seize every thread, re-reading the task list until no new thread appears. */
static int seize_all(struct target *t)
{
	for (int round = 0; round < 100; round++) {
		pid_t *tids;
		int n = proc_tasks(t->pid, &tids);
		if (n <= 0) {
			free(tids);
			return error_set("process %d exited during attach", (int)t->pid);
		}
		bool added = false;
		for (int i = 0; i < n; i++) {
			if (target_thread_by_tid(t, tids[i]))
				continue;
			tracee_add(tids[i]);
			if (ptrace(PTRACE_SEIZE, tids[i], 0, 0) != 0) {
				if (errno == ESRCH)
					continue; /* the thread exited meanwhile */
				int e = errno;
				free(tids);
				if (e == EPERM)
					return permission_error(t->pid);
				return error_set("cannot attach to thread %d: %s", (int)tids[i], strerror(e));
			}
			read_thread_identity(t, target_add_thread(t, tids[i]));
			added = true;
		}
		free(tids);
		if (!added)
			return 0;
	}
	return error_set("process %d creates threads faster than strand can attach", (int)t->pid);
}

/* Record a wait status. Returns true when the thread is now stopped or gone. */
static bool note_status(struct thread *th, int status, bool *gone)
{
	if (WIFEXITED(status) || WIFSIGNALED(status)) {
		*gone = true;
		return true;
	}
	if (!WIFSTOPPED(status))
		return false;
	/* A signal-delivery-stop: the signal is ours to pass on at detach. */
	if ((status >> 16) == 0)
		th->pending_signal = WSTOPSIG(status);
	return true;
}

static void drop_thread(struct target *t, size_t i)
{
	free(t->threads[i].xstate);
	memmove(&t->threads[i], &t->threads[i + 1], (t->nthreads - i - 1) * sizeof(*t->threads));
	t->nthreads--;
}

/* Interrupt the threads from index first on and wait for each stop. */
static void stop_threads(struct target *t, size_t first, double timeout, const struct attach_opts *o)
{
	size_t n = t->nthreads;
	bool *done = xcalloc(n, sizeof(bool)), *gone = xcalloc(n, sizeof(bool));
	for (size_t i = first; i < n; i++) {
		struct thread *th = &t->threads[i];
		if (th->state == 'Z' || ptrace(PTRACE_INTERRUPT, th->tid, 0, 0) != 0)
			done[i] = gone[i] = th->state != 'Z';
		if (th->state == 'Z')
			done[i] = true, th->stop_failed = true;
	}
	double deadline = now_seconds() + timeout;
	for (size_t left = n;;) {
		left = 0;
		bool progress = false;
		for (size_t i = first; i < n; i++) {
			int status;
			if (done[i])
				continue;
			pid_t r = waitpid(t->threads[i].tid, &status, __WALL | WNOHANG);
			if (r < 0 && errno == ECHILD)
				done[i] = gone[i] = true;
			else if (r > 0 && note_status(&t->threads[i], status, &gone[i]))
				done[i] = progress = true;
			left += !done[i];
		}
		if (!left || now_seconds() > deadline)
			break;
		if (!progress)
			sleep_us(200);
	}
	for (size_t i = n; i-- > first;) {
		struct thread *th = &t->threads[i];
		if (!done[i]) {
			th->stop_failed = true;
			warn(o, "thread %d (%s) did not stop within %.1f s (state %c): its registers are unknown",
			     (int)th->tid, th->name, timeout, proc_thread_state(t->pid, th->tid));
		} else if (gone[i]) {
			drop_thread(t, i);
		}
	}
	free(done);
	free(gone);
}

static bool is_restart_code(int64_t rax)
{
	/* -ERESTARTSYS, -ERESTARTNOINTR, -ERESTARTNOHAND, -ERESTART_RESTARTBLOCK, -EINTR */
	return rax == -512 || rax == -513 || rax == -514 || rax == -516 || rax == -EINTR;
}

static void read_registers(struct thread *th, const struct proc_syscall *before)
{
	if (th->stop_failed || ptrace(PTRACE_GETREGS, th->tid, 0, &th->regs) != 0)
		return;
	th->regs_state = REGS_FULL;
	uint8_t buf[16384];
	struct iovec iov = { buf, sizeof(buf) };
	if (ptrace(PTRACE_GETREGSET, th->tid, (void *)NT_X86_XSTATE, &iov) == 0 && iov.iov_len > 0) {
		th->xstate = xmalloc(iov.iov_len);
		memcpy(th->xstate, buf, iov.iov_len);
		th->xstate_size = iov.iov_len;
	}
	th->have_fpregs = ptrace(PTRACE_GETFPREGS, th->tid, 0, &th->fpregs) == 0;
	int64_t orig = (int64_t)th->regs.orig_rax;
	bool in_call = orig >= 0 && (is_restart_code((int64_t)th->regs.rax) || (before && before->nr == orig));
	if (in_call) {
		th->syscall = orig;
		uint64_t a[6] = { th->regs.rdi, th->regs.rsi, th->regs.rdx, th->regs.r10, th->regs.r8, th->regs.r9 };
		memcpy(th->syscall_args, a, sizeof(a));
	}
}

/* --no-stop: what /proc tells without stopping the thread. */
static void read_unstopped(struct target *t, struct thread *th)
{
	struct proc_syscall sc;
	if (!proc_syscall(t->pid, th->tid, &sc) || sc.running)
		return;
	th->regs_state = REGS_SP_PC;
	th->regs.rsp = sc.sp;
	th->regs.rip = sc.pc;
	th->syscall = sc.nr;
	if (sc.nr >= 0)
		memcpy(th->syscall_args, sc.args, sizeof(sc.args));
}

static int read_maps_and_auxv(struct target *t)
{
	char *text = read_procf(NULL, "/proc/%d/maps", (int)t->pid);
	if (!text)
		return error_set("cannot read /proc/%d/maps: %s", (int)t->pid, strerror(errno));
	int rc = maps_parse(&t->maps, text);
	free(text);
	size_t len = 0;
	uint64_t *auxv = (uint64_t *)read_procf(&len, "/proc/%d/auxv", (int)t->pid);
	if (auxv) {
		t->auxv = auxv;
		for (t->auxv_n = 0; (t->auxv_n + 1) * 16 <= len && auxv[2 * t->auxv_n] != AT_NULL; t->auxv_n++)
			;
	}
	char exe[4096], path[64];
	snprintf(path, sizeof(path), "/proc/%d/exe", (int)t->pid);
	ssize_t n = readlink(path, exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		t->exe = xstrdup(exe);
	}
	return rc;
}

static int stop_everything(struct target *t, const struct attach_opts *o)
{
	double timeout = o->stop_timeout > 0 ? o->stop_timeout : 2.0;
	((struct live *)t->priv)->attached = true;
	t->stopped = true;
	/* Threads can appear until every thread that could create one is stopped. */
	size_t stopped = 0;
	for (int round = 0; round < 100; round++) {
		if (seize_all(t) < 0)
			return -1;
		if (stopped == t->nthreads && stopped)
			return 0;
		stop_threads(t, stopped, timeout, o);
		if (!t->nthreads)
			return error_set("process %d exited during attach", (int)t->pid);
		stopped = t->nthreads;
	}
	return error_set("process %d creates threads faster than strand can stop them", (int)t->pid);
}

static void read_unstopped_threads(struct target *t)
{
	pid_t *tids;
	int n = proc_tasks(t->pid, &tids);
	for (int i = 0; i < n; i++) {
		struct thread *th = target_add_thread(t, tids[i]);
		read_thread_identity(t, th);
		read_unstopped(t, th);
	}
	free(tids);
}

static const struct before_stop *before_stop_of(const struct before_stop *v, size_t n, pid_t tid)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].tid == tid)
			return &v[i];
	return NULL;
}

static int stop_and_read_threads(struct target *t, const struct attach_opts *o)
{
	struct before_stop *before;
	size_t n = snapshot_syscalls(t->pid, &before);
	warn_eintr(t->pid, before, n, o);
	int rc = stop_everything(t, o);
	for (size_t i = 0; rc == 0 && i < t->nthreads; i++) {
		const struct before_stop *b = before_stop_of(before, n, t->threads[i].tid);
		read_registers(&t->threads[i], b ? &b->sc : NULL);
		t->threads[i].idle_seconds = b ? b->idle : -1;
	}
	free(before);
	return rc;
}

/* Free a half-built target, keeping the error message that explains why. */
static struct target *fail(struct target *t)
{
	char *msg = xstrdup(error_get());
	target_free(t);
	error_set("%s", msg);
	free(msg);
	return NULL;
}

static void open_memory_files(struct live *l, pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/mem", (int)pid);
	l->mem_fd = open(path, O_RDONLY | O_CLOEXEC);
	snprintf(path, sizeof(path), "/proc/%d/pagemap", (int)pid);
	l->pagemap_fd = open(path, O_RDONLY | O_CLOEXEC);
}

/* Threads by tid, the process's leader (tid == pid) selected, as gdb selects it. */
static void sort_threads_select_leader(struct target *t, pid_t pid)
{
	target_sort_threads(t);
	for (size_t i = 0; i < t->nthreads; i++)
		if (t->threads[i].tid == pid)
			t->initial_thread = i;
}

struct target *live_attach(pid_t pid, const struct attach_opts *o)
{
	if (check_attachable(pid) < 0)
		return NULL;
	struct target *t = xcalloc(1, sizeof(*t));
	struct live *l = xcalloc(1, sizeof(*l));
	target_init(t, &live_ops, TARGET_LIVE);
	t->priv = l;
	t->pid = pid;
	t->description = xasprintf("process %d", (int)pid);
	open_memory_files(l, pid);
	if (o->no_stop)
		read_unstopped_threads(t);
	else if (stop_and_read_threads(t, o) < 0)
		return fail(t);
	if (!t->nthreads) {
		error_set("process %d exited during attach", (int)pid);
		return fail(t);
	}
	if (read_maps_and_auxv(t) < 0)
		return fail(t);
	sort_threads_select_leader(t, pid);
	return t;
}

struct target *live_adopt(pid_t pid, const pid_t *tids, size_t n)
{
	struct target *t = xcalloc(1, sizeof(*t));
	struct live *l = xcalloc(1, sizeof(*l));
	target_init(t, &live_ops, TARGET_LIVE);
	t->priv = l;
	t->pid = pid;
	/* pid is one of the threads' when the leader has already exited (a zombie
	 * without memory); the process is still named by its own id. */
	char tgid[16];
	long id = pid;
	if (proc_status_field(pid, "Tgid", tgid, sizeof(tgid)))
		parse_int(tgid, &id);
	t->description = xasprintf("process %ld", id);
	open_memory_files(l, pid);
	l->attached = true;
	t->stopped = true;
	for (size_t i = 0; i < n; i++) {
		tracee_add(tids[i]);
		struct thread *th = target_add_thread(t, tids[i]);
		read_thread_identity(t, th);
		read_registers(th, NULL);
	}
	if (read_maps_and_auxv(t) < 0)
		return fail(t);
	sort_threads_select_leader(t, pid);
	return t;
}
