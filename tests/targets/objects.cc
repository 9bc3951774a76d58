// C++ objects on the heap, for `heap histogram --by type`: the type of a
// block comes from the vtable pointer at its start. Records how many of each.
#include "fixture.h"

namespace shapes {
struct Shape {
	virtual ~Shape() {}
	virtual double area() const = 0;
	long id = 0;
};

struct Circle : Shape {
	double r = 1;
	double area() const override { return 3.14159 * r * r; }
};

struct Square : Shape {
	double side = 2, pad[4] = {};
	double area() const override { return side * side; }
};
} // namespace shapes

static shapes::Shape *keep[64];

int main()
{
	int n = 0;
	for (int i = 0; i < 7; i++)
		keep[n++] = new shapes::Circle;
	for (int i = 0; i < 4; i++)
		keep[n++] = new shapes::Square;
	fixture_truth("{\"kind\":\"objects\",\"shapes::Circle\":7,\"shapes::Square\":4,\"circle_size\":%zu,"
		      "\"square_size\":%zu}", sizeof(shapes::Circle), sizeof(shapes::Square));
	fixture_ready();
	for (;;)
		pause();
}
