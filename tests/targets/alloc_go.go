// A Go program without C (CGO_ENABLED=0: a static binary, no libc), for the
// allocator tests: every object lives in Go's garbage-collected heap. Built
// by the test: go build -o DIR/alloc_go FILE.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

var kept [][]byte

func main() {
	for i := 0; i < 1000; i++ {
		kept = append(kept, make([]byte, 100))
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM)
	fmt.Println("ready")
	<-stop
}
