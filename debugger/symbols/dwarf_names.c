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

struct module_names {
	Dwfl_Module *mod;
	Dwarf_Addr bias;
	struct named_die *v; /* sorted by name, then kind */
	size_t n;
};

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

static void index_module(struct module_names *m, Dwarf *dw)
{
	size_t cap = 0;
	Dwarf_Off off = 0, next;
	size_t header;
	while (dwarf_nextcu(dw, off, &next, &header, NULL, NULL, NULL) == 0) {
		Dwarf_Die cu, child;
		if (dwarf_offdie(dw, off + header, &cu) && dwarf_child(&cu, &child) == 0) {
			do {
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

void dwarf_names_reset(void)
{
	for (size_t i = 0; i < nmodules; i++)
		free(modules[i].v);
	free(modules);
	modules = NULL;
	nmodules = modules_cap = 0;
}
