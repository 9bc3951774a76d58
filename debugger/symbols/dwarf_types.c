#include "dwarf_types.h"

#include <dwarf.h>

bool die_type(Dwarf_Die *die, Dwarf_Die *type)
{
	Dwarf_Attribute attr;
	return dwarf_formref_die(dwarf_attr_integrate(die, DW_AT_type, &attr), type) != NULL;
}

/* Through typedefs and qualifiers to the type that decides the format. */
bool strip_type(Dwarf_Die *type, Dwarf_Die *out)
{
	Dwarf_Die t = *type;
	for (int guard = 0; guard < 32; guard++) {
		int tag = dwarf_tag(&t);
		if (tag != DW_TAG_typedef && tag != DW_TAG_const_type && tag != DW_TAG_volatile_type &&
		    tag != DW_TAG_restrict_type && tag != DW_TAG_atomic_type) {
			*out = t;
			return true;
		}
		Dwarf_Die next;
		if (!die_type(&t, &next))
			return false; /* const void */
		t = next;
	}
	return false;
}

uint64_t type_size(Dwarf_Die *type)
{
	Dwarf_Die t;
	if (!strip_type(type, &t))
		return 0;
	Dwarf_Word size;
	if (dwarf_aggregate_size(&t, &size) == 0)
		return size;
	return dwarf_tag(&t) == DW_TAG_pointer_type || dwarf_tag(&t) == DW_TAG_reference_type ? 8 : 0;
}
