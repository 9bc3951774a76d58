// A Go program with C underneath (cgo), for the allocator tests: its C side
// loses LOST blocks of malloc's, recorded as {"kind":"lost","addr":"0x..",
// "size":N} (tests/targets/fixture.h), while Go keeps its own objects in its
// garbage-collected heap. Built by the test: go build -o DIR/alloc_cgo FILE.
package main

/*
#include "fixture.h"

#define LOST 5

__attribute__((noinline)) static void lose(void)
{
	for (int i = 0; i < LOST; i++) {
		int size = 100 + 16 * i;
		char *p = malloc(size);
		snprintf(p, size, "lost %d", i);
		fixture_truth("{\"kind\":\"lost\",\"addr\":\"%p\",\"size\":%d}", (void *)p, size);
	}
}

// Far below where the parked frames reach: no stale copy of a lost pointer stays live.
__attribute__((noinline)) static void deep(void)
{
	volatile char pad[32 * 1024];
	pad[0] = 0;
	lose();
	pad[1] = pad[0];
}

static void ready(void)
{
	fixture_ready();
}
*/
import "C"

import (
	"os"
	"os/signal"
	"syscall"
)

var kept [][]byte

func main() {
	C.deep()
	for i := 0; i < 1000; i++ {
		kept = append(kept, make([]byte, 100))
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM)
	C.ready()
	<-stop
}
