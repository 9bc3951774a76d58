#include "dwarf_values.h"

#include <ctype.h>
#include <dwarf.h>
#include <errno.h>
#include <elfutils/libdwfl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dwarf_names.h"
#include "base/util.h"

enum { MAX_ELEMENTS = 200, MAX_DEPTH = 8, MAX_STRING = 200 };

/* ---- types ---- */

static bool array_bound(Dwarf_Die *array, uint64_t *count)
{
	Dwarf_Die sub;
	if (dwarf_child(array, &sub) != 0)
		return false;
	Dwarf_Attribute attr;
	Dwarf_Word v;
	if (dwarf_formudata(dwarf_attr(&sub, DW_AT_count, &attr), &v) == 0) {
		*count = v;
		return true;
	}
	if (dwarf_formudata(dwarf_attr(&sub, DW_AT_upper_bound, &attr), &v) == 0) {
		*count = v + 1;
		return true;
	}
	return false;
}

/* Go's DWARF extension (cmd/link/internal/dwarf): a type's reflect.Kind. */
enum { DW_AT_go_kind = 0x2900 };
enum { GO_CHAN = 18, GO_INTERFACE = 20, GO_MAP = 21, GO_STRING = 24 };

/* The Go kind of type t, through the typedefs that name it ("error" names an
 * interface, which is runtime.iface); 0 when it is no Go type. */
static int go_kind(Dwarf_Die *t)
{
	Dwarf_Die d = *t;
	for (int i = 0; i < 8; i++) {
		Dwarf_Attribute attr;
		Dwarf_Word kind;
		if (dwarf_formudata(dwarf_attr(&d, DW_AT_go_kind, &attr), &kind) == 0)
			return (int)kind;
		if (dwarf_tag(&d) != DW_TAG_typedef || !die_type(&d, &d))
			return 0;
	}
	return 0;
}

void type_name(Dwarf_Die *type, bool have_type, struct strbuf *sb)
{
	if (!have_type) {
		sb_adds(sb, "void");
		return;
	}
	Dwarf_Die t = *type, inner;
	const char *name = dwarf_diename(&t);
	switch (dwarf_tag(&t)) {
	case DW_TAG_pointer_type:
		type_name(&inner, die_type(&t, &inner), sb);
		sb_adds(sb, " *");
		return;
	case DW_TAG_reference_type:
		type_name(&inner, die_type(&t, &inner), sb);
		sb_adds(sb, " &");
		return;
	case DW_TAG_const_type:
		sb_adds(sb, "const ");
		type_name(&inner, die_type(&t, &inner), sb);
		return;
	case DW_TAG_volatile_type:
		sb_adds(sb, "volatile ");
		type_name(&inner, die_type(&t, &inner), sb);
		return;
	case DW_TAG_array_type: {
		uint64_t n;
		type_name(&inner, die_type(&t, &inner), sb);
		if (array_bound(&t, &n))
			sb_addf(sb, " [%" PRIu64 "]", n);
		else
			sb_adds(sb, " []");
		return;
	}
	case DW_TAG_structure_type:
		if (name && go_kind(&t)) { /* Go's own names: []uint8, main.node */
			sb_adds(sb, name);
			return;
		}
		sb_addf(sb, "struct %s", name ? name : "{...}");
		return;
	case DW_TAG_union_type:
		sb_addf(sb, "union %s", name ? name : "{...}");
		return;
	case DW_TAG_enumeration_type:
		sb_addf(sb, "enum %s", name ? name : "{...}");
		return;
	case DW_TAG_class_type:
		sb_addf(sb, "%s", name ? name : "class {...}");
		return;
	case DW_TAG_subroutine_type:
		sb_adds(sb, "void (*)()");
		return;
	default:
		sb_adds(sb, name ? name : "?");
	}
}

/* ---- locations ---- */

static bool frame_reg(const struct value_frame *vf, unsigned regno, uint64_t *out)
{
	if (!vf->fr || regno >= FRAME_NREGS || !(vf->fr->regs_valid & (1u << regno)))
		return false;
	*out = vf->fr->regs[regno];
	return true;
}

static bool eval_location(const struct value_frame *vf, Dwarf_Addr bias, const Dwarf_Op *ops, size_t n,
			  struct value *v, int depth);

static bool frame_base(const struct value_frame *vf, uint64_t *out, int depth)
{
	if (!vf->lf || !vf->lf->nscopes || depth > 2)
		return false;
	Dwarf_Attribute attr;
	Dwarf_Op *ops;
	size_t n;
	Dwarf_Die sub = vf->lf->subprogram;
	if (!dwarf_attr_integrate(&sub, DW_AT_frame_base, &attr) ||
	    dwarf_getlocation_addr(&attr, vf->fr->lookup_pc - vf->lf->bias, &ops, &n, 1) != 1)
		return false;
	struct value v;
	if (!eval_location(vf, vf->lf->bias, ops, n, &v, depth + 1))
		return false;
	/* DW_OP_reg6 as a frame base means "the value of rbp". */
	*out = v.kind == VAL_MEMORY ? v.addr : v.bits;
	return v.kind != VAL_NONE;
}

static bool eval_location(const struct value_frame *vf, Dwarf_Addr bias, const Dwarf_Op *ops, size_t n,
			  struct value *v, int depth)
{
	uint64_t stack[64];
	size_t sp = 0;
	v->kind = VAL_NONE;
	v->why_none = "optimized out";
	for (size_t i = 0; i < n; i++) {
		uint8_t op = ops[i].atom;
		uint64_t r, x;
		if (sp >= 63)
			return false;
		if (op >= DW_OP_lit0 && op <= DW_OP_lit31) {
			stack[sp++] = op - DW_OP_lit0;
		} else if (op >= DW_OP_reg0 && op <= DW_OP_reg31) {
			if (!frame_reg(vf, op - DW_OP_reg0, &r))
				return false;
			v->kind = VAL_REGISTER;
			v->bits = r;
			return true;
		} else if (op >= DW_OP_breg0 && op <= DW_OP_breg31) {
			if (!frame_reg(vf, op - DW_OP_breg0, &r))
				return false;
			stack[sp++] = r + ops[i].number;
		} else {
			switch (op) {
			case DW_OP_addr:
				stack[sp++] = ops[i].number + bias;
				break;
			case DW_OP_regx:
				if (!frame_reg(vf, (unsigned)ops[i].number, &r))
					return false;
				v->kind = VAL_REGISTER;
				v->bits = r;
				return true;
			case DW_OP_bregx:
				if (!frame_reg(vf, (unsigned)ops[i].number, &r))
					return false;
				stack[sp++] = r + ops[i].number2;
				break;
			case DW_OP_fbreg:
				if (!frame_base(vf, &r, depth))
					return false;
				stack[sp++] = r + ops[i].number;
				break;
			case DW_OP_call_frame_cfa:
				if (!vf->fr || !vf->fr->cfa)
					return false;
				stack[sp++] = vf->fr->cfa;
				break;
			case DW_OP_const1u: case DW_OP_const2u: case DW_OP_const4u: case DW_OP_const8u:
			case DW_OP_const1s: case DW_OP_const2s: case DW_OP_const4s: case DW_OP_const8s:
			case DW_OP_constu: case DW_OP_consts:
				stack[sp++] = ops[i].number;
				break;
			case DW_OP_plus_uconst:
				if (!sp)
					return false;
				stack[sp - 1] += ops[i].number;
				break;
			case DW_OP_plus: case DW_OP_minus:
				if (sp < 2)
					return false;
				x = stack[--sp];
				stack[sp - 1] = op == DW_OP_plus ? stack[sp - 1] + x : stack[sp - 1] - x;
				break;
			case DW_OP_deref:
				if (!sp || !target_read_u64(vf->s->target, stack[sp - 1], &stack[sp - 1]))
					return false;
				break;
			case DW_OP_stack_value:
				if (!sp)
					return false;
				v->kind = VAL_CONSTANT;
				v->bits = stack[sp - 1];
				return true;
			default: /* entry values, pieces, TLS: not evaluated */
				return false;
			}
		}
	}
	if (!sp)
		return false;
	v->kind = VAL_MEMORY;
	v->addr = stack[sp - 1];
	return true;
}

/* Go writes a global's DW_OP_addr in a DW_FORM_block1, a form DWARF 4 no
 * longer allows for a location and libdw refuses (gdb reads it): that one
 * expression, decoded here. */
static bool block_addr(Dwarf_Attribute *attr, Dwarf_Op *op, Dwarf_Op **ops, size_t *n)
{
	Dwarf_Block b;
	if (dwarf_formblock(attr, &b) != 0 || b.length != 9 || b.data[0] != DW_OP_addr)
		return false;
	*op = (Dwarf_Op){ .atom = DW_OP_addr };
	memcpy(&op->number, b.data + 1, 8);
	*ops = op;
	*n = 1;
	return true;
}

struct value variable_value(const struct value_frame *vf, Dwarf_Die *var)
{
	struct value v = { .kind = VAL_NONE, .why_none = "optimized out" };
	v.have_type = die_type(var, &v.type);
	Dwarf_Attribute attr;
	Dwarf_Op *ops;
	size_t n;
	Dwarf_Addr bias = vf->lf ? vf->lf->bias : 0;
	uint64_t pc = vf->fr ? vf->fr->lookup_pc - bias : 0;
	if (dwarf_attr_integrate(var, DW_AT_const_value, &attr)) {
		Dwarf_Word w;
		if (dwarf_formudata(&attr, &w) == 0) {
			v.kind = VAL_CONSTANT;
			v.bits = w;
		}
		return v;
	}
	if (!dwarf_attr_integrate(var, DW_AT_location, &attr))
		return v;
	Dwarf_Op addr_op;
	if (dwarf_getlocation_addr(&attr, pc, &ops, &n, 1) != 1 && !block_addr(&attr, &addr_op, &ops, &n))
		return v;
	if (!eval_location(vf, bias, ops, n, &v, 0)) {
		v.kind = VAL_NONE;
		v.why_none = "optimized out";
	}
	return v;
}

/* ---- formatting ---- */

static bool value_bytes(struct session *s, const struct value *v, void *buf, size_t len)
{
	if (v->kind == VAL_MEMORY)
		return target_read_all(s->target, v->addr, buf, len);
	if (v->kind == VAL_REGISTER || v->kind == VAL_CONSTANT) {
		memset(buf, 0, len);
		memcpy(buf, &v->bits, len < 8 ? len : 8);
		return true;
	}
	return false;
}

static void format_char(int c, struct strbuf *sb)
{
	if (c == '\'' || c == '\\')
		sb_addf(sb, "\\%c", c);
	else if (isprint(c))
		sb_addc(sb, (char)c);
	else if (c && strchr("\a\b\f\n\r\t\v", c))
		sb_addf(sb, "\\%c", "abfnrtv"[strchr("\a\b\f\n\r\t\v", c) - "\a\b\f\n\r\t\v"]);
	else
		sb_addf(sb, "\\%03o", c & 0xff);
}

static void format_string_at(struct session *s, uint64_t addr, struct strbuf *sb)
{
	char *str = target_read_string(s->target, addr, MAX_STRING);
	if (!str) {
		sb_addf(sb, " <error: Cannot access memory at address 0x%" PRIx64 ">", addr);
		return;
	}
	sb_adds(sb, " \"");
	for (char *p = str; *p; p++)
		*p == '"' ? sb_adds(sb, "\\\"") : format_char((unsigned char)*p, sb);
	sb_adds(sb, strlen(str) == MAX_STRING ? "\"..." : "\"");
	free(str);
}

/* A 1-byte integer: gdb reads what it points at as text, Go's uint8 (a
 * []byte's array) as well as C's char. */
static bool is_char_type(Dwarf_Die *t)
{
	Dwarf_Attribute attr;
	Dwarf_Word enc, size;
	Dwarf_Die s;
	return strip_type(t, &s) && dwarf_tag(&s) == DW_TAG_base_type &&
	       dwarf_formudata(dwarf_attr(&s, DW_AT_encoding, &attr), &enc) == 0 &&
	       (enc == DW_ATE_signed_char || enc == DW_ATE_unsigned_char || enc == DW_ATE_signed ||
		enc == DW_ATE_unsigned) &&
	       dwarf_formudata(dwarf_attr(&s, DW_AT_byte_size, &attr), &size) == 0 && size == 1;
}

static void format_value(struct session *s, const struct value *v, struct strbuf *sb, int depth);

static void format_base(Dwarf_Die *t, const uint8_t *bytes, size_t size, struct strbuf *sb)
{
	Dwarf_Attribute attr;
	Dwarf_Word enc = DW_ATE_signed;
	dwarf_formudata(dwarf_attr(t, DW_AT_encoding, &attr), &enc);
	uint64_t u = 0;
	memcpy(&u, bytes, size < 8 ? size : 8);
	int64_t i = size >= 8 ? (int64_t)u : (int64_t)(u << (64 - 8 * size)) >> (64 - 8 * size);
	switch (enc) {
	case DW_ATE_boolean:
		sb_adds(sb, u ? "true" : "false");
		break;
	case DW_ATE_float:
		if (size == 4) {
			float f;
			memcpy(&f, bytes, 4);
			sb_addf(sb, "%g", (double)f);
		} else if (size == 8) {
			double d;
			memcpy(&d, bytes, 8);
			sb_addf(sb, "%.17g", d);
		} else {
			sb_adds(sb, "<long double>");
		}
		break;
	case DW_ATE_signed_char:
	case DW_ATE_unsigned_char:
		sb_addf(sb, "%" PRId64 " '", enc == DW_ATE_signed_char ? i : (int64_t)u);
		format_char((int)(u & 0xff), sb);
		sb_addc(sb, '\'');
		break;
	case DW_ATE_unsigned:
		sb_addf(sb, "%" PRIu64, u);
		break;
	default:
		sb_addf(sb, "%" PRId64, i);
	}
}

static void format_pointer(struct session *s, Dwarf_Die *t, uint64_t p, struct strbuf *sb)
{
	sb_addf(sb, "0x%" PRIx64, p);
	Dwarf_Die target;
	bool typed = die_type(t, &target);
	if (!p)
		return;
	if (typed && is_char_type(&target)) {
		format_string_at(s, p, sb);
		return;
	}
	value_symbol(s, p, sb);
}

void value_symbol(struct session *s, uint64_t p, struct strbuf *sb)
{
	char *name = symbol_offset_for_people(s->symbols, p);
	if (name)
		sb_addf(sb, " <%s>", name);
	free(name);
}

static void format_enum(Dwarf_Die *t, uint64_t u, struct strbuf *sb)
{
	Dwarf_Die e;
	if (dwarf_child(t, &e) == 0) {
		do {
			Dwarf_Attribute attr;
			Dwarf_Sword val;
			if (dwarf_tag(&e) == DW_TAG_enumerator &&
			    dwarf_formsdata(dwarf_attr(&e, DW_AT_const_value, &attr), &val) == 0 && (uint64_t)val == u) {
				sb_adds(sb, dwarf_diename(&e));
				return;
			}
		} while (dwarf_siblingof(&e, &e) == 0);
	}
	sb_addf(sb, "%" PRIu64, u);
}

static uint64_t member_offset(Dwarf_Die *m)
{
	Dwarf_Attribute attr;
	Dwarf_Word off = 0;
	dwarf_formudata(dwarf_attr(m, DW_AT_data_member_location, &attr), &off);
	return off;
}

static void format_struct(struct session *s, const struct value *v, Dwarf_Die *t, struct strbuf *sb, int depth)
{
	Dwarf_Die m;
	bool first = true;
	sb_adds(sb, "{");
	if (dwarf_child(t, &m) == 0) {
		do {
			if (dwarf_tag(&m) != DW_TAG_member)
				continue;
			const char *name = dwarf_diename(&m);
			sb_adds(sb, first ? "" : ", ");
			first = false;
			if (name)
				sb_addf(sb, "%s = ", name);
			struct value mv = *v;
			mv.have_type = die_type(&m, &mv.type);
			if (v->kind == VAL_MEMORY)
				mv.addr = v->addr + member_offset(&m);
			else
				mv.bits = v->bits >> (8 * member_offset(&m));
			format_value(s, &mv, sb, depth + 1);
		} while (dwarf_siblingof(&m, &m) == 0);
	}
	sb_adds(sb, "}");
}

static void format_array(struct session *s, const struct value *v, Dwarf_Die *t, struct strbuf *sb, int depth)
{
	Dwarf_Die elem;
	uint64_t count = 0;
	if (!die_type(t, &elem) || !array_bound(t, &count) || v->kind != VAL_MEMORY) {
		sb_adds(sb, "{...}");
		return;
	}
	if (is_char_type(&elem)) {
		char buf[MAX_STRING + 1];
		size_t n = count < MAX_STRING ? (size_t)count : MAX_STRING;
		if (!target_read_all(s->target, v->addr, buf, n)) {
			sb_adds(sb, "<unreadable>");
			return;
		}
		size_t len = strnlen(buf, n);
		sb_addc(sb, '"');
		for (size_t i = 0; i < len; i++)
			buf[i] == '"' ? sb_adds(sb, "\\\"") : format_char((unsigned char)buf[i], sb);
		/* gdb's rule: the final NUL is implied; a run of more than 10
		 * NULs before it collapses into "<repeats N times>". */
		uint64_t zeros = count > len + 1 ? count - len - 1 : 0;
		if (zeros > 10) {
			sb_addf(sb, "\", '\\000' <repeats %" PRIu64 " times>", zeros);
		} else {
			for (uint64_t z = 0; z < zeros; z++)
				sb_adds(sb, "\\000");
			sb_addc(sb, '"');
		}
		return;
	}
	uint64_t esize = type_size(&elem);
	sb_adds(sb, "{");
	for (uint64_t i = 0; i < count && i < MAX_ELEMENTS; i++) {
		struct value ev = { .kind = VAL_MEMORY, .addr = v->addr + i * esize, .type = elem, .have_type = true };
		sb_adds(sb, i ? ", " : "");
		format_value(s, &ev, sb, depth + 1);
	}
	sb_adds(sb, count > MAX_ELEMENTS ? "...}" : "}");
}

/* ---- Go values ---- */

/* The name of the Go type whose runtime._type is at addr ("*main.node"), from
 * the DWARF type that records that _type; NULL if none does. */
static const char *go_type_name(struct session *s, uint64_t addr)
{
	uint64_t types;
	if (!addr || !symbols_lookup(s->symbols, "runtime.types", NULL, &types, NULL) || addr < types)
		return NULL;
	return dwarf_names_go_type(symbols_dwfl(s->symbols), addr - types);
}

/* The offset of member name of the struct t (through typedefs and, with
 * through_pointer, one pointer), its type in *mt. */
static bool go_member(Dwarf_Die *t, bool through_pointer, const char *name, uint64_t *offset, Dwarf_Die *mt)
{
	Dwarf_Die st, m;
	if (!strip_type(t, &st))
		return false;
	if (through_pointer && (dwarf_tag(&st) != DW_TAG_pointer_type || !die_type(&st, &st) || !strip_type(&st, &st)))
		return false;
	if (dwarf_child(&st, &m) != 0)
		return false;
	do {
		const char *n = dwarf_diename(&m);
		if (dwarf_tag(&m) == DW_TAG_member && n && !strcmp(n, name)) {
			*offset = member_offset(&m);
			return die_type(&m, mt);
		}
	} while (dwarf_siblingof(&m, &m) == 0);
	return false;
}

/* "hello": the len bytes a Go string's str points at, not up to a NUL. */
static void format_go_string(struct session *s, uint64_t str, uint64_t len, struct strbuf *sb)
{
	char buf[MAX_STRING];
	size_t n = len < MAX_STRING ? (size_t)len : MAX_STRING;
	if (n && !target_read_all(s->target, str, buf, n)) {
		sb_addf(sb, "<error: Cannot access memory at address 0x%" PRIx64 ">", str);
		return;
	}
	sb_addc(sb, '"');
	for (size_t i = 0; i < n; i++)
		buf[i] == '"' ? sb_adds(sb, "\\\"") : format_char((unsigned char)buf[i], sb);
	sb_adds(sb, len > n ? "\"..." : "\"");
}

/* Go's strings, maps and interfaces as runtime-gdb.py shows them, which
 * plain gdb prints as the runtime's structs: "text", a map's pointer and its
 * length ("0xc000070150 <len 3>"), an interface's dynamic type and data
 * ("(*main.node) 0xc000010030", nil). False for every other value. */
static bool format_go(struct session *s, const struct value *v, struct strbuf *sb)
{
	int kind = v->have_type ? go_kind((Dwarf_Die *)&v->type) : 0;
	uint64_t w[2];
	if ((kind != GO_STRING && kind != GO_MAP && kind != GO_INTERFACE) ||
	    !value_bytes(s, v, w, kind == GO_MAP ? 8 : 16))
		return false;
	Dwarf_Die mt;
	uint64_t off, count = 0, type = w[0];
	switch (kind) {
	case GO_STRING:
		format_go_string(s, w[0], w[1], sb);
		return true;
	case GO_MAP:
		sb_addf(sb, "0x%" PRIx64, w[0]);
		if (w[0] && go_member((Dwarf_Die *)&v->type, true, "count", &off, &mt) &&
		    target_read_all(s->target, w[0] + off, &count, 8))
			sb_addf(sb, " <len %" PRIu64 ">", count);
		return true;
	default:
		if (!w[0] && !w[1]) {
			sb_adds(sb, "nil");
			return true;
		}
		/* A non-empty interface (runtime.iface) holds an itab, which holds the _type. */
		if (go_member((Dwarf_Die *)&v->type, false, "tab", &off, &mt) &&
		    (!go_member(&mt, true, "_type", &off, &mt) || !target_read_all(s->target, w[0] + off, &type, 8)))
			return false;
		const char *name = go_type_name(s, type);
		if (!name)
			return false;
		sb_addf(sb, "(%s) 0x%" PRIx64, name, w[1]);
		return true;
	}
}

static void format_value(struct session *s, const struct value *v, struct strbuf *sb, int depth)
{
	if (v->kind == VAL_NONE) {
		sb_addf(sb, "<%s>", v->why_none ? v->why_none : "optimized out");
		return;
	}
	Dwarf_Die t;
	if (!v->have_type || !strip_type((Dwarf_Die *)&v->type, &t)) {
		sb_adds(sb, "<void>");
		return;
	}
	if (depth > MAX_DEPTH) {
		sb_adds(sb, "...");
		return;
	}
	if (format_go(s, v, sb))
		return;
	int tag = dwarf_tag(&t);
	if (tag == DW_TAG_structure_type || tag == DW_TAG_union_type || tag == DW_TAG_class_type) {
		format_struct(s, v, &t, sb, depth);
		return;
	}
	if (tag == DW_TAG_array_type) {
		format_array(s, v, &t, sb, depth);
		return;
	}
	uint8_t bytes[16] = { 0 };
	uint64_t size = type_size(&t);
	if (size == 0 || size > sizeof(bytes) || !value_bytes(s, v, bytes, (size_t)size)) {
		if (v->kind == VAL_MEMORY)
			sb_addf(sb, "<error: Cannot access memory at address 0x%" PRIx64 ">", v->addr);
		else
			sb_adds(sb, "<unavailable>");
		return;
	}
	uint64_t u = 0;
	memcpy(&u, bytes, size < 8 ? (size_t)size : 8);
	switch (tag) {
	case DW_TAG_pointer_type:
	case DW_TAG_reference_type:
		format_pointer(s, &t, u, sb);
		break;
	case DW_TAG_enumeration_type:
		format_enum(&t, u, sb);
		break;
	case DW_TAG_base_type:
		format_base(&t, bytes, (size_t)size, sb);
		break;
	default:
		sb_addf(sb, "0x%" PRIx64, u);
	}
}

bool value_go_channel(struct session *s, const struct value *v, uint64_t *addr)
{
	*addr = 0;
	return v->have_type && go_kind((Dwarf_Die *)&v->type) == GO_CHAN && value_bytes(s, v, addr, 8);
}

void value_format(struct session *s, const struct value *v, struct strbuf *sb)
{
	format_value(s, v, sb, 0);
}

/* ---- frames: args and locals ---- */

/* Call fn for each parameter (params true) or local variable of the logical
 * frame, innermost block first, as gdb lists them. */
static void each_variable(const struct logical_frame *lf, bool params,
			  void (*fn)(Dwarf_Die *var, void *arg), void *arg)
{
	for (int k = params ? lf->nscopes - 1 : 0; k < lf->nscopes; k++) {
		Dwarf_Die child;
		if (dwarf_child(&lf->scopes[k], &child) != 0)
			continue;
		do {
			int tag = dwarf_tag(&child);
			if ((params && tag == DW_TAG_formal_parameter) || (!params && tag == DW_TAG_variable))
				fn(&child, arg);
		} while (dwarf_siblingof(&child, &child) == 0);
	}
}

struct print_vars {
	struct session *s;
	struct value_frame vf;
	int count;
	bool one_line; /* args: "a=1, b=2"; locals: "        name = value" lines */
	const char *indent;
};

static void print_variable(Dwarf_Die *var, void *arg)
{
	struct print_vars *pv = arg;
	struct out *o = pv->s->out;
	const char *name = dwarf_diename(var);
	if (!name)
		return;
	struct value v = variable_value(&pv->vf, var);
	struct strbuf sb = STRBUF_INIT, tn = STRBUF_INIT;
	value_format(pv->s, &v, &sb);
	type_name(&v.type, v.have_type, &tn);
	out_obj(o, NULL);
	if (pv->one_line) {
		out_text(o, pv->count ? ", " : "");
		out_str(o, "name", name);
		out_text(o, "=");
	} else {
		out_text(o, "%s", pv->indent);
		out_str(o, "name", name);
		out_text(o, " = ");
	}
	out_str(o, "value", sb.buf ? sb.buf : "");
	out_hide_text(o, true);
	out_str(o, "type", tn.buf);
	if (v.kind == VAL_MEMORY)
		out_hex(o, "address", v.addr);
	else
		out_null(o, "address");
	out_hide_text(o, false);
	if (!pv->one_line)
		out_text(o, "\n");
	out_obj_end(o);
	pv->count++;
	sb_release(&sb);
	sb_release(&tn);
}

/* A frame's arguments inside the current output object (out_frame). */
static void out_frame_args(struct session *s, const struct stack *st, size_t i)
{
	const struct logical_frame *lf = &st->f[i];
	out_list(s->out, "args");
	if (lf->nscopes) {
		struct print_vars pv = { s, { s, &st->bt.frames[lf->phys], lf }, 0, true, "" };
		each_variable(lf, true, print_variable, &pv);
	}
	out_list_end(s->out);
}

void out_frame_variables(struct session *s, const struct stack *st, size_t i, bool params, const char *indent)
{
	const struct logical_frame *lf = &st->f[i];
	struct print_vars pv = { s, { s, &st->bt.frames[lf->phys], lf }, 0, false, indent };
	out_list(s->out, params ? "args" : "locals");
	if (lf->nscopes)
		each_variable(lf, params, print_variable, &pv);
	out_list_end(s->out);
	if (!pv.count)
		out_text(s->out, params ? "No arguments.\n" : "No locals.\n");
}

static void out_frame_locals(struct session *s, const struct stack *st, size_t i)
{
	out_frame_variables(s, st, i, false, "        ");
}

void out_frame(struct session *s, const struct stack *st, size_t i, unsigned flags)
{
	struct out *o = s->out;
	const struct logical_frame *lf = &st->f[i];
	out_obj(o, "frame");
	if (!(flags & FRAME_NO_LEVEL)) {
		out_text(o, "#");
		out_intw(o, "level", -2, (long long)i);
		out_text(o, " ");
	} else {
		out_hide_text(o, true);
		out_int(o, "level", (long long)i);
		out_hide_text(o, false);
	}
	if (lf->signal) { /* gdb: "#2  <signal handler called>" */
		out_hide_text(o, true);
		out_addr(o, "pc", lf->pc);
		out_hide_text(o, false);
		out_str(o, "function", lf->function);
		out_hide_text(o, true);
		out_null(o, "offset");
		out_null(o, "file");
		out_null(o, "line");
		out_str(o, "module", lf->module);
		out_str(o, "library", lf->loaded_as);
		out_bool(o, "inlined", false);
		out_bool(o, "tailcall", false);
		out_bool(o, "signal", true);
		out_hide_text(o, false);
		out_text(o, "\n");
		out_obj_end(o);
		return;
	}
	if (lf->show_address) {
		out_addr(o, "pc", lf->pc);
		out_text(o, " in ");
	} else {
		out_hide_text(o, true);
		out_addr(o, "pc", lf->pc);
		out_hide_text(o, false);
	}
	out_str(o, "function", lf->function ? lf->function : "??");
	out_hide_text(o, true);
	if (lf->function && !lf->inlined)
		out_uint(o, "offset", lf->func_offset);
	else
		out_null(o, "offset");
	out_hide_text(o, false);
	out_text(o, " (");
	if (flags & FRAME_ARGS)
		out_frame_args(s, st, i);
	out_text(o, ")");
	if (lf->file) {
		out_text(o, " at ");
		out_str(o, "file", lf->file);
		out_text(o, ":");
		out_int(o, "line", lf->line);
	} else {
		out_hide_text(o, true);
		out_null(o, "file");
		out_null(o, "line");
		out_hide_text(o, false);
		if (lf->module && !lf->in_program)
			out_text(o, " from %s", lf->loaded_as ? lf->loaded_as : lf->module);
	}
	out_hide_text(o, true);
	out_str(o, "module", lf->module);
	if (lf->module)
		out_hex(o, "module_offset", lf->module_offset);
	else
		out_null(o, "module_offset");
	out_str(o, "library", lf->loaded_as);
	out_bool(o, "inlined", lf->inlined);
	out_bool(o, "tailcall", st->bt.frames[lf->phys].tailcall);
	out_bool(o, "signal", false);
	out_hide_text(o, false);
	out_text(o, "\n");
	if (flags & FRAME_LOCALS)
		out_frame_locals(s, st, i);
	out_obj_end(o);
}

/* ---- naming stack slots ---- */

struct find_slot {
	struct value_frame vf;
	uint64_t addr;
	const char *name;
	bool is_param;
	bool params;
};

static void match_slot(Dwarf_Die *var, void *arg)
{
	struct find_slot *fs = arg;
	if (fs->name)
		return;
	struct value v = variable_value(&fs->vf, var);
	uint64_t size = v.have_type ? type_size(&v.type) : 8;
	if (v.kind == VAL_MEMORY && fs->addr >= v.addr && fs->addr < v.addr + (size ? size : 8)) {
		fs->name = dwarf_diename(var);
		fs->is_param = fs->params;
	}
}

const char *frame_variable_at(const struct value_frame *vf, uint64_t addr, bool *is_param)
{
	struct find_slot fs = { .vf = *vf, .addr = addr };
	if (!vf->lf || !vf->lf->nscopes)
		return NULL;
	each_variable(vf->lf, false, match_slot, &fs);
	fs.params = true;
	each_variable(vf->lf, true, match_slot, &fs);
	if (is_param)
		*is_param = fs.is_param;
	return fs.name;
}

/* ---- expressions ---- */

struct find_var {
	const char *name;
	Dwarf_Die die;
	bool found;
};

static void match_name(Dwarf_Die *var, void *arg)
{
	struct find_var *fv = arg;
	const char *n = dwarf_diename(var);
	if (!fv->found && n && !strcmp(n, fv->name)) {
		fv->die = *var;
		fv->found = true;
	}
}

struct global_search {
	const char *name;
	Dwarf_Die die;
	Dwarf_Addr bias;
	bool found;
};

/* A global (or file-static) variable with a location, in any module's DWARF. */
static int search_module(Dwfl_Module *mod, void **ud, const char *mname, Dwarf_Addr low, void *arg)
{
	(void)ud;
	(void)mname;
	(void)low;
	struct global_search *g = arg;
	Dwarf_Addr bias;
	Dwarf_Die *cu = NULL;
	while ((cu = dwfl_module_nextcu(mod, cu, &bias)) != NULL) {
		Dwarf_Die child;
		if (dwarf_child(cu, &child) != 0)
			continue;
		do {
			const char *n;
			Dwarf_Attribute attr;
			if (dwarf_tag(&child) == DW_TAG_variable && (n = dwarf_diename(&child)) && !strcmp(n, g->name) &&
			    dwarf_attr_integrate(&child, DW_AT_location, &attr)) {
				g->die = child;
				g->bias = bias;
				g->found = true;
				return DWARF_CB_ABORT;
			}
		} while (dwarf_siblingof(&child, &child) == 0);
	}
	return DWARF_CB_OK;
}

static bool lookup_local(const struct value_frame *vf, const char *name, struct value *out)
{
	if (!vf->lf || !vf->lf->nscopes)
		return false;
	struct find_var fv = { .name = name };
	each_variable(vf->lf, false, match_name, &fv);
	each_variable(vf->lf, true, match_name, &fv);
	if (fv.found)
		*out = variable_value(vf, &fv.die);
	return fv.found;
}

/* A global by its whole name, from DWARF or else the symbol table. */
static bool lookup_global(struct session *s, const char *name, struct value *out)
{
	struct global_search g = { .name = name };
	dwfl_getmodules(symbols_dwfl(s->symbols), search_module, &g, 0);
	if (g.found) {
		struct logical_frame lf = { .bias = g.bias };
		struct value_frame gvf = { s, NULL, &lf };
		*out = variable_value(&gvf, &g.die);
		return true;
	}
	uint64_t addr;
	if (symbols_lookup(s->symbols, name, NULL, &addr, NULL)) {
		/* From the symbol table alone (a stripped program's .dynsym): an
		 * address without a type, as gdb has it. */
		const char *section = symbols_section(s->symbols, addr);
		struct sym_info si;
		*out = (struct value){ .kind = VAL_MEMORY, .addr = addr,
				       .no_debug = symbols_addr_info(s->symbols, addr, &si) && si.name ? si.name : "symbol",
				       .no_debug_text = section && !strcmp(section, ".text") };
		return true;
	}
	return false;
}

static bool lookup_name(struct session *s, const struct value_frame *vf, const char *name, struct value *out)
{
	if (lookup_local(vf, name, out) || lookup_global(s, name, out))
		return true;
	return error_set("No symbol \"%s\" in current context.", name) == 0;
}

/* How deep parentheses and unary operators may nest: far beyond any
 * expression a person writes, far below what the stack holds (the parser
 * recurses once per level). */
enum { MAX_NESTING = 256 };

struct parser {
	struct session *s;
	const struct value_frame *vf;
	const char *p;
	int nesting;
};

static bool syntax_error(const struct parser *ps)
{
	return error_set("A syntax error in expression, near `%s'.", ps->p) == 0;
}

static void skip_space(struct parser *ps)
{
	while (isspace((unsigned char)*ps->p))
		ps->p++;
}

static bool read_ident(struct parser *ps, char *buf, size_t len)
{
	size_t n = 0;
	while ((isalnum((unsigned char)*ps->p) || *ps->p == '_') && n + 1 < len)
		buf[n++] = *ps->p++;
	buf[n] = '\0';
	return n > 0;
}

/* A number as gdb reads one: decimal, 0x hex or 0 octal, with optional u and l
 * suffixes; a constant that does not fit 64 bits is an error, not a wrapped
 * or clamped value. */
static bool parse_number(struct parser *ps, uint64_t *out)
{
	const char *start = ps->p, *end = start;
	while (isalnum((unsigned char)*end))
		end++;
	const char *digits_end = end;
	while (digits_end > start && strchr("uUlL", digits_end[-1]))
		digits_end--;
	char *stop;
	errno = 0;
	*out = strtoull(start, &stop, 0);
	if (errno == ERANGE)
		return error_set("Numeric constant too large.") == 0;
	if (stop != digits_end)
		return error_set("Invalid number \"%.*s\".", (int)(end - start), start) == 0;
	ps->p = end;
	return true;
}

static bool deref(struct session *s, struct value *v)
{
	Dwarf_Die t;
	if (!v->have_type || !strip_type(&v->type, &t) ||
	    (dwarf_tag(&t) != DW_TAG_pointer_type && dwarf_tag(&t) != DW_TAG_reference_type))
		return error_set("Attempt to take contents of a non-pointer value.") == 0;
	uint64_t p;
	uint8_t probe;
	if (!value_bytes(s, v, &p, 8))
		return error_set("Cannot access memory at address 0x%" PRIx64, v->addr) == 0;
	if (target_read(s->target, p, &probe, 1) != 1)
		return error_set("Cannot access memory at address 0x%" PRIx64, p) == 0;
	v->kind = VAL_MEMORY;
	v->addr = p;
	v->have_type = die_type(&t, &v->type);
	return true;
}

static bool is_pointer(const struct value *v)
{
	Dwarf_Die t;
	return v->have_type && strip_type((Dwarf_Die *)&v->type, &t) && dwarf_tag(&t) == DW_TAG_pointer_type;
}

static bool member(struct value *v, const char *name)
{
	Dwarf_Die t, m;
	if (!v->have_type || !strip_type(&v->type, &t) || dwarf_child(&t, &m) != 0)
		return error_set("There is no member named %s.", name) == 0;
	do {
		const char *n = dwarf_diename(&m);
		if (dwarf_tag(&m) == DW_TAG_member && n && !strcmp(n, name)) {
			if (v->kind == VAL_MEMORY)
				v->addr += member_offset(&m);
			else
				v->bits >>= 8 * member_offset(&m);
			v->have_type = die_type(&m, &v->type);
			return true;
		}
	} while (dwarf_siblingof(&m, &m) == 0);
	return error_set("There is no member named %s.", name) == 0;
}

static bool subscript(struct session *s, struct value *v, uint64_t index)
{
	Dwarf_Die t, elem;
	if (!v->have_type || !strip_type(&v->type, &t))
		return error_set("cannot subscript something of type void") == 0;
	if (dwarf_tag(&t) == DW_TAG_pointer_type) {
		if (!deref(s, v))
			return false;
		v->addr += index * type_size(&v->type);
		return true;
	}
	if (dwarf_tag(&t) != DW_TAG_array_type || !die_type(&t, &elem) || v->kind != VAL_MEMORY)
		return error_set("cannot subscript something that is not an array or pointer") == 0;
	v->addr += index * type_size(&elem);
	v->type = elem;
	return true;
}

static bool parse_unary(struct parser *ps, struct value *v, bool *addr_of);

/* pc, sp and fp as unwound for the selected frame, as gdb shows them. */
static void selected_frame_register(const struct value_frame *vf, const char *name, uint64_t *r)
{
	static const struct { const char *name; unsigned dwarf; } map[] = {
		{ "pc", 16 }, { "rip", 16 }, { "sp", 7 }, { "rsp", 7 }, { "fp", 6 }, { "rbp", 6 },
	};
	for (size_t i = 0; i < ARRAY_SIZE(map); i++)
		if (!strcmp(name, map[i].name))
			frame_reg(vf, map[i].dwarf, r);
}

static const char *regs_name_canonical(const char *name)
{
	static const char *const special[] = { "pc", "sp", "fp" };
	for (size_t i = 0; i < ARRAY_SIZE(special); i++)
		if (!strcmp(name, special[i]))
			return special[i];
	for (size_t i = 0; regs_name(i); i++)
		if (!strcmp(name, regs_name(i)))
			return regs_name(i);
	return "?";
}

/* 'main.keep', 'ns::f': a symbol's whole name, quoted as gdb quotes names
 * that are no C identifiers. */
static bool parse_quoted_name(struct parser *ps, struct value *v)
{
	const char *start = ++ps->p, *end = strchr(start, '\'');
	if (!end)
		return error_set("Unmatched single quote.") == 0;
	if (end == start)
		return error_set("Empty character constant.") == 0;
	char *name = xasprintf("%.*s", (int)(end - start), start);
	ps->p = end + 1;
	bool ok = lookup_name(ps->s, ps->vf, name, v);
	free(name);
	return ok;
}

/* Go's package-qualified names, main.keep or runtime.sched.lastpoll: after
 * first (read, and neither a local nor a global), the longest run of ".ident"
 * that makes a global's name; the rest are members. False, ps->p unmoved,
 * when none does. */
static bool parse_qualified_name(struct parser *ps, const char *first, struct value *v)
{
	const char *ends[16];
	size_t n = 0;
	for (const char *q = ps->p; n < ARRAY_SIZE(ends) && q[0] == '.' && (isalpha((unsigned char)q[1]) || q[1] == '_');) {
		q++;
		while (isalnum((unsigned char)*q) || *q == '_')
			q++;
		ends[n++] = q;
	}
	while (n-- > 0) {
		char *name = xasprintf("%s%.*s", first, (int)(ends[n] - ps->p), ps->p);
		bool found = lookup_global(ps->s, name, v);
		free(name);
		if (found) {
			ps->p = ends[n];
			return true;
		}
	}
	return false;
}

static bool parse_primary(struct parser *ps, struct value *v)
{
	char name[256];
	skip_space(ps);
	if (*ps->p == '(') {
		ps->p++;
		bool addr_of = false;
		bool ok = parse_unary(ps, v, &addr_of);
		skip_space(ps);
		if (!ok || *ps->p != ')' || addr_of)
			return ok && syntax_error(ps);
		ps->p++;
		return true;
	}
	if (*ps->p == '$') {
		ps->p++;
		read_ident(ps, name, sizeof(name));
		uint64_t r;
		struct thread *th = session_thread(ps->s);
		if (!th || !regs_get(&th->regs, name, &r))
			return error_set("No register $%s.", name) == 0;
		selected_frame_register(ps->vf, name, &r);
		*v = (struct value){ .kind = VAL_CONSTANT, .bits = r };
		v->register_name = regs_name_canonical(name);
		return true;
	}
	if (isdigit((unsigned char)*ps->p)) {
		uint64_t n;
		if (!parse_number(ps, &n))
			return false;
		*v = (struct value){ .kind = VAL_CONSTANT, .bits = n };
		return true;
	}
	if (*ps->p == '\'')
		return parse_quoted_name(ps, v);
	if (!read_ident(ps, name, sizeof(name)))
		return syntax_error(ps);
	/* A name by itself first, as C has it: no extra search of every module's
	 * DWARF for s.f; Go has no global without its package's name. */
	if (lookup_local(ps->vf, name, v) || lookup_global(ps->s, name, v) || parse_qualified_name(ps, name, v))
		return true;
	return error_set("No symbol \"%s\" in current context.", name) == 0;
}

static bool parse_postfix(struct parser *ps, struct value *v)
{
	if (!parse_primary(ps, v))
		return false;
	for (;;) {
		skip_space(ps);
		char name[256];
		if (*ps->p == '.' || (ps->p[0] == '-' && ps->p[1] == '>')) {
			bool arrow = *ps->p == '-';
			ps->p += arrow ? 2 : 1;
			skip_space(ps);
			if (!read_ident(ps, name, sizeof(name)))
				return syntax_error(ps);
			/* p.x on a pointer is p->x, in gdb and in Go (main.head.name). */
			if ((arrow || is_pointer(v)) && !deref(ps->s, v))
				return false;
			if (!member(v, name))
				return false;
		} else if (*ps->p == '[') {
			const char *open = ps->p++;
			skip_space(ps);
			bool negative = *ps->p == '-';
			ps->p += negative;
			uint64_t idx;
			if (!isdigit((unsigned char)*ps->p)) {
				ps->p = open;
				return syntax_error(ps);
			}
			if (!parse_number(ps, &idx))
				return false;
			skip_space(ps);
			if (*ps->p != ']') {
				ps->p = open;
				return syntax_error(ps);
			}
			ps->p++;
			if (!subscript(ps->s, v, negative ? -idx : idx)) /* a[-1]: one element back, mod 2^64 */
				return false;
		} else {
			return true;
		}
	}
}

static bool parse_unary_nested(struct parser *ps, struct value *v, bool *addr_of);

/* Every recursion of the parser (a unary operator, parentheses around an
 * expression) goes through here, so this one count bounds its depth. */
static bool parse_unary(struct parser *ps, struct value *v, bool *addr_of)
{
	if (ps->nesting >= MAX_NESTING)
		return error_set("Expression nested too deeply (more than %d levels of parentheses and unary "
				 "operators), near `%.20s...'.", MAX_NESTING, ps->p) == 0;
	ps->nesting++;
	bool ok = parse_unary_nested(ps, v, addr_of);
	ps->nesting--;
	return ok;
}

static bool parse_unary_nested(struct parser *ps, struct value *v, bool *addr_of)
{
	skip_space(ps);
	if (*ps->p == '*') {
		ps->p++;
		bool inner_addr = false;
		if (!parse_unary(ps, v, &inner_addr))
			return false;
		return inner_addr || deref(ps->s, v); /* *&x is x */
	}
	if (*ps->p == '&') {
		ps->p++;
		if (!parse_postfix(ps, v))
			return false;
		if (v->kind != VAL_MEMORY)
			return error_set("Attempt to take address of value not located in memory.") == 0;
		*addr_of = true;
		return true;
	}
	return parse_postfix(ps, v);
}

bool value_eval(struct session *s, const struct value_frame *vf, const char *expr, struct value *out)
{
	struct parser ps = { .s = s, .vf = vf, .p = expr };
	bool addr_of = false;
	if (!parse_unary(&ps, out, &addr_of))
		return false;
	skip_space(&ps);
	if (*ps.p)
		return syntax_error(&ps);
	if (out->no_debug && !addr_of)
		return error_set("'%s' has unknown type; cast it to its declared type", out->no_debug) == 0;
	out->address_of = addr_of;
	return true;
}

size_t stack_frame_holding(struct session *s, const struct stack *st, uint64_t addr, const char **var,
			   bool *is_param)
{
	size_t found = st->n;
	*var = NULL;
	*is_param = false;
	for (size_t i = 0; i < st->n && found == st->n; i++) {
		const struct frame *fr = &st->bt.frames[st->f[i].phys];
		uint64_t sp = fr->regs[7];
		if ((fr->regs_valid & (1u << 7)) && addr >= sp && (!fr->cfa || addr < fr->cfa) && !st->f[i].inlined)
			found = i;
	}
	/* Inlined frames share the physical frame: name the innermost one. */
	while (found < st->n && found > 0 && st->f[found - 1].phys == st->f[found].phys)
		found--;
	if (found < st->n) {
		struct value_frame vf = { s, &st->bt.frames[st->f[found].phys], &st->f[found] };
		*var = frame_variable_at(&vf, addr, is_param);
	}
	return found;
}

bool global_declared_at(struct session *s, uint64_t addr, const char *name, const char **file, int *line)
{
	Dwfl_Module *mod = dwfl_addrmodule(symbols_dwfl(s->symbols), addr);
	struct global_search g = { .name = name };
	if (!mod || search_module(mod, NULL, NULL, 0, &g) != DWARF_CB_ABORT || !g.found)
		return false;
	*file = dwarf_decl_file(&g.die);
	return *file && dwarf_decl_line(&g.die, line) == 0;
}
