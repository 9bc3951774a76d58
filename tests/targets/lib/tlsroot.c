/* A library with thread-local storage, dlopen'd by tests/targets/leaks.c: its
 * TLS is dynamic (allocated by glibc when first touched), a root kind of its own. */
static __thread void *tls_root;

void tlsroot_set(void *p)
{
	tls_root = p;
}
