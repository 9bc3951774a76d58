/* C++ names in the function column of a frame, as gdb shows them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "symbols/frames.h"

static void column_is(const char *demangled, const char *want)
{
	char *d = strdup(demangled);
	assert_string_equal(cxx_function_column(d), want);
	free(d);
}

static void drops_parameters_and_qualifiers(void **state)
{
	(void)state;
	column_is("transfer1()", "transfer1");
	column_is("shop::Ledger::transfer(int)", "shop::Ledger::transfer");
	column_is("Foo::bar() const", "Foo::bar");
	column_is("std::vector<int, std::allocator<int> >::push_back(int const&)",
		  "std::vector<int, std::allocator<int> >::push_back");
	column_is("(anonymous namespace)::helper(int)", "(anonymous namespace)::helper");
	column_is("main", "main");
}

static void drops_the_return_type_of_templates(void **state)
{
	(void)state;
	column_is("void std::this_thread::sleep_for<long, std::ratio<1l, 1l> >(std::chrono::duration<long, "
		  "std::ratio<1l, 1l> > const&)",
		  "std::this_thread::sleep_for<long, std::ratio<1l, 1l> >");
	column_is("long shop::sleep_for_a_while<long>(long)", "shop::sleep_for_a_while<long>");
	column_is("std::pair<int, int> make<std::pair<int, int> >(int)", "make<std::pair<int, int> >");
}

static void keeps_operators_and_lambdas(void **state)
{
	(void)state;
	column_is("Foo::operator()(int) const", "Foo::operator()");
	column_is("bool operator< <int>(Foo<int> const&, Foo<int> const&)", "operator< <int>");
	column_is("Foo::operator new(unsigned long)", "Foo::operator new");
	column_is("Foo::operator bool() const", "Foo::operator bool");
	column_is("queue_waiter()::{lambda()#1}::operator()() const", "queue_waiter()::{lambda()#1}::operator()");
	column_is("queue_waiter()::{lambda()#1}::_FUN()", "queue_waiter()::{lambda()#1}::_FUN");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(drops_parameters_and_qualifiers),
		cmocka_unit_test(drops_the_return_type_of_templates),
		cmocka_unit_test(keeps_operators_and_lambdas),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
