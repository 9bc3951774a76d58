#include "dwarf_names.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <stdlib.h>
#include <string.h>

#include "dwarf_types.h"
#include "base/util.h"

enum name_kind { NAME_TYPE, NAME_CONSTANT, NAME_VARIABLE };

struct named_die {
	const char *name; /* libdw's string, valid while the module is */
	int kind;         /* enum name_kind */
	Dwarf_Die die;
};

/* A Go type by the offset of its runtime._type (DW_AT_go_runtime_type). */
struct go_type {
	uint64_t offset;
	const char *name;
};

struct module_names {
	Dwfl_Module *mod;
	Dwarf_Addr bias;
	struct named_die *v; /* sorted by name, then kind */
	size_t n;
	struct go_type *go; /* sorted by offset */
	size_t ngo;
};

/* Go's DWARF extension: the offset of a type's runtime._type from the
 * symbol runtime.types. */
enum { DW_AT_go_runtime_type = 0x2904 };

static struct module_names *modules;
static size_t nmodules, modules_cap;

static int named_cmp(const void *a, const void *b)
{
	const struct named_die *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	return c ? c : x->kind - y->kind;
}

static int kind_of(Dwarf_Die *d)
{
	switch (dwarf_tag(d)) {
	case DW_TAG_structure_type:
	case DW_TAG_union_type:
	case DW_TAG_typedef:
	case DW_TAG_base_type:
		/* a declaration names a type described elsewhere */
		return dwarf_hasattr(d, DW_AT_declaration) ? -1 : NAME_TYPE;
	case DW_TAG_constant:
		return NAME_CONSTANT;
	case DW_TAG_variable:
		return dwarf_hasattr(d, DW_AT_location) ? NAME_VARIABLE : -1;
	default:
		return -1;
	}
}

static int go_type_cmp(const void *a, const void *b)
{
	const struct go_type *x = a, *y = b;
	return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static void index_go_type(struct module_names *m, Dwarf_Die *d, size_t *cap)
{
	Dwarf_Attribute attr;
	Dwarf_Addr offset;
	const char *name;
	if (dwarf_formaddr(dwarf_attr(d, DW_AT_go_runtime_type, &attr), &offset) != 0 || !offset ||
	    !(name = dwarf_diename(d)))
		return;
	GROW(m->go, *cap, m->ngo + 1);
	m->go[m->ngo++] = (struct go_type){ offset, name };
}

static void index_module(struct module_names *m, Dwarf *dw)
{
	size_t cap = 0, go_cap = 0;
	Dwarf_Off off = 0, next;
	size_t header;
	while (dwarf_nextcu(dw, off, &next, &header, NULL, NULL, NULL) == 0) {
		Dwarf_Die cu, child;
		if (dwarf_offdie(dw, off + header, &cu) && dwarf_child(&cu, &child) == 0) {
			do {
				index_go_type(m, &child, &go_cap);
				int kind = kind_of(&child);
				const char *name = kind >= 0 ? dwarf_diename(&child) : NULL;
				if (!name)
					continue;
				GROW(m->v, cap, m->n + 1);
				m->v[m->n++] = (struct named_die){ name, kind, child };
			} while (dwarf_siblingof(&child, &child) == 0);
		}
		off = next;
	}
	sort_array(m->v, m->n, sizeof(*m->v), named_cmp);
	sort_array(m->go, m->ngo, sizeof(*m->go), go_type_cmp);
}

static struct module_names *names_of(Dwfl_Module *mod)
{
	for (size_t i = 0; i < nmodules; i++)
		if (modules[i].mod == mod)
			return &modules[i];
	Dwarf_Addr bias = 0;
	Dwarf *dw = dwfl_module_getdwarf(mod, &bias);
	GROW(modules, modules_cap, nmodules + 1);
	struct module_names *m = &modules[nmodules++];
	*m = (struct module_names){ .mod = mod, .bias = bias };
	if (dw)
		index_module(m, dw);
	return m;
}

static const struct named_die *find_in(Dwfl_Module *mod, const char *name, int kind, Dwarf_Addr *bias)
{
	struct module_names *m = names_of(mod);
	struct named_die key = { .name = name, .kind = kind };
	const struct named_die *d = m->n ? bsearch(&key, m->v, m->n, sizeof(*m->v), named_cmp) : NULL;
	*bias = m->bias;
	return d;
}

struct search {
	const char *name;
	int kind;
	const struct named_die *found;
	Dwarf_Addr bias;
};

static int search_module(Dwfl_Module *mod, void **ud, const char *name, Dwarf_Addr low, void *arg)
{
	(void)ud, (void)name, (void)low;
	struct search *q = arg;
	q->found = find_in(mod, q->name, q->kind, &q->bias);
	return q->found ? DWARF_CB_ABORT : DWARF_CB_OK;
}

static const struct named_die *find(Dwfl *dwfl, Dwfl_Module *first, const char *name, int kind, Dwarf_Addr *bias)
{
	struct search q = { name, kind, NULL, 0 };
	if (first)
		q.found = find_in(first, name, kind, &q.bias);
	if (!q.found)
		dwfl_getmodules(dwfl, search_module, &q, 0);
	*bias = q.bias;
	return q.found;
}

/* A type without its typedefs. */
static bool resolve(Dwarf_Die *type, Dwarf_Die *out)
{
	*out = *type;
	for (int guard = 0; guard < 16 && dwarf_tag(out) == DW_TAG_typedef; guard++) {
		Dwarf_Attribute attr;
		if (!dwarf_formref_die(dwarf_attr(out, DW_AT_type, &attr), out))
			return false;
	}
	return true;
}

static bool member_named(Dwarf_Die *type, const char *name, size_t len, Dwarf_Die *out)
{
	Dwarf_Die t, child;
	if (!resolve(type, &t) || dwarf_child(&t, &child) != 0)
		return false;
	do {
		const char *n = dwarf_diename(&child);
		if (dwarf_tag(&child) == DW_TAG_member && n && strlen(n) == len && !strncmp(n, name, len)) {
			*out = child;
			return true;
		}
	} while (dwarf_siblingof(&child, &child) == 0);
	return false;
}

bool dwarf_names_member(Dwfl *dwfl, Dwfl_Module *first, const char *name, const char *member, uint64_t *offset,
			uint64_t *size)
{
	Dwarf_Addr bias;
	const struct named_die *d = find(dwfl, first, name, NAME_TYPE, &bias);
	if (!d)
		return false;
	Dwarf_Die type = d->die;
	uint64_t at = 0;
	for (const char *p = member; p && *p;) {
		size_t len = strcspn(p, ".");
		Dwarf_Die m;
		Dwarf_Attribute attr;
		Dwarf_Word where;
		if (!member_named(&type, p, len, &m) || dwarf_formudata(dwarf_attr(&m, DW_AT_data_member_location, &attr),
									 &where) != 0 ||
		    !dwarf_formref_die(dwarf_attr(&m, DW_AT_type, &attr), &type))
			return false;
		at += where;
		p += len + (p[len] == '.');
	}
	*offset = at;
	*size = type_size(&type);
	return true;
}

bool dwarf_names_constant(Dwfl *dwfl, Dwfl_Module *first, const char *name, int64_t *value)
{
	Dwarf_Addr bias;
	const struct named_die *d = find(dwfl, first, name, NAME_CONSTANT, &bias);
	Dwarf_Attribute attr;
	Dwarf_Sword v;
	if (!d || dwarf_formsdata(dwarf_attr((Dwarf_Die *)&d->die, DW_AT_const_value, &attr), &v) != 0)
		return false;
	*value = v;
	return true;
}

bool dwarf_names_variable(Dwfl *dwfl, Dwfl_Module *first, const char *name, uint64_t *addr, uint64_t *size)
{
	Dwarf_Addr bias;
	const struct named_die *d = find(dwfl, first, name, NAME_VARIABLE, &bias);
	Dwarf_Attribute attr;
	Dwarf_Op *expr;
	size_t len;
	Dwarf_Die type;
	if (!d || dwarf_getlocation(dwarf_attr((Dwarf_Die *)&d->die, DW_AT_location, &attr), &expr, &len) != 0 ||
	    len != 1 || expr[0].atom != DW_OP_addr)
		return false;
	*addr = expr[0].number + bias;
	*size = dwarf_formref_die(dwarf_attr((Dwarf_Die *)&d->die, DW_AT_type, &attr), &type) ? type_size(&type) : 0;
	return true;
}

struct go_search {
	struct go_type key;
	const struct go_type *found;
};

static int search_go_type(Dwfl_Module *mod, void **ud, const char *name, Dwarf_Addr low, void *arg)
{
	(void)ud, (void)name, (void)low;
	struct go_search *q = arg;
	struct module_names *m = names_of(mod);
	q->found = m->ngo ? bsearch(&q->key, m->go, m->ngo, sizeof(*m->go), go_type_cmp) : NULL;
	return q->found ? DWARF_CB_ABORT : DWARF_CB_OK;
}

const char *dwarf_names_go_type(Dwfl *dwfl, uint64_t offset)
{
	struct go_search q = { .key = { .offset = offset } };
	dwfl_getmodules(dwfl, search_go_type, &q, 0);
	return q.found ? q.found->name : NULL;
}

void dwarf_names_reset(void)
{
	for (size_t i = 0; i < nmodules; i++) {
		free(modules[i].v);
		free(modules[i].go);
	}
	free(modules);
	modules = NULL;
	nmodules = modules_cap = 0;
}
