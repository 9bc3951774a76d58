#include "cu_index.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

struct cu_range {
	Dwarf_Addr low, high; /* file addresses, [low, high) */
	size_t unit;          /* index in units */
};

struct module_units {
	Dwfl_Module *mod;
	Dwarf_Die *units;
	size_t nunits;
	struct cu_range *ranges; /* sorted by low */
	size_t nranges;
};

static struct module_units *indexes;
static size_t nindexes, indexes_cap;

static int range_cmp(const void *a, const void *b)
{
	const struct cu_range *x = a, *y = b;
	return x->low < y->low ? -1 : x->low > y->low;
}

static void index_units(struct module_units *m, Dwarf *dw)
{
	size_t units_cap = 0, ranges_cap = 0;
	Dwarf_Off off = 0, next;
	size_t header;
	while (dwarf_nextcu(dw, off, &next, &header, NULL, NULL, NULL) == 0) {
		Dwarf_Die die;
		if (dwarf_offdie(dw, off + header, &die)) {
			GROW(m->units, units_cap, m->nunits + 1);
			m->units[m->nunits] = die;
			Dwarf_Addr base, low, high;
			for (ptrdiff_t r = 0; (r = dwarf_ranges(&die, r, &base, &low, &high)) > 0;) {
				GROW(m->ranges, ranges_cap, m->nranges + 1);
				m->ranges[m->nranges++] = (struct cu_range){ low, high, m->nunits };
			}
			m->nunits++;
		}
		off = next;
	}
	sort_array(m->ranges, m->nranges, sizeof(*m->ranges), range_cmp);
}

static struct module_units *units_of(Dwfl_Module *mod, Dwarf *dw)
{
	for (size_t i = 0; i < nindexes; i++)
		if (indexes[i].mod == mod)
			return &indexes[i];
	GROW(indexes, indexes_cap, nindexes + 1);
	struct module_units *m = &indexes[nindexes++];
	*m = (struct module_units){ .mod = mod };
	index_units(m, dw);
	return m;
}

Dwarf_Die *module_addrdie(Dwfl_Module *mod, Dwarf_Addr addr, Dwarf_Addr *bias)
{
	Dwarf_Die *cu = dwfl_module_addrdie(mod, addr, bias);
	if (cu)
		return cu;
	Dwarf *dw = dwfl_module_getdwarf(mod, bias);
	if (!dw)
		return NULL;
	struct module_units *m = units_of(mod, dw);
	Dwarf_Addr pc = addr - *bias;
	/* The last range starting at or before pc; ranges of different units do
	 * not overlap. */
	size_t lo = 0, hi = m->nranges;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (m->ranges[mid].low <= pc)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0 || pc >= m->ranges[lo - 1].high)
		return NULL;
	return &m->units[m->ranges[lo - 1].unit];
}

const char *unit_file_name(Dwarf_Die *cu, const char *path)
{
	Dwarf_Attribute attr;
	const char *dir = path ? dwarf_formstring(dwarf_attr(cu, DW_AT_comp_dir, &attr)) : NULL;
	return dir && !strcmp(dir, ".") && !strncmp(path, "./", 2) ? path + 2 : path;
}

void cu_index_reset(void)
{
	for (size_t i = 0; i < nindexes; i++) {
		free(indexes[i].units);
		free(indexes[i].ranges);
	}
	free(indexes);
	indexes = NULL;
	nindexes = indexes_cap = 0;
}
