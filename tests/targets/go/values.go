// Package-level values of Go's kinds (a slice of a large array, a string, a
// map, an empty and a non-empty interface, a pointer), for print. Without cgo
// (no package that needs it), so that the runtime's threads run on stacks it
// allocates in its own heap, whose idle threads wait on notes inside the heap.
// The program records each value as fmt sees it to $STRAND_TRUTH, one JSON
// line {"kind": "value", ...}, prints "ready" and sleeps. Built by the
// Makefile's fixtures target (also without DWARF, -ldflags=-w, and stripped).
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"sync"
	"time"
)

type node struct {
	name string
	next *node
}

var (
	keep     []byte
	greeting = "hello, \"strand\"\n"
	counts   = map[string]int{"a": 1, "b": 2, "c": 3}
	anything interface{}
	failure  error
	head     *node
)

// Several threads at work for a moment: afterwards the runtime keeps them,
// parked on their own notes.
func busy() {
	runtime.GOMAXPROCS(4)
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for end := time.Now().Add(20 * time.Millisecond); time.Now().Before(end); {
			}
		}()
	}
	wg.Wait()
}

func main() {
	keep = make([]byte, 4096, 1<<20)
	head = &node{name: "first", next: &node{name: "second"}}
	anything = head
	failure = os.ErrNotExist
	busy()
	truth, _ := json.Marshal(map[string]interface{}{
		"kind":     "value",
		"keep":     map[string]interface{}{"array": fmt.Sprintf("%p", keep), "len": len(keep), "cap": cap(keep)},
		"greeting": greeting,
		"counts":   len(counts),
		"anything": map[string]string{"type": fmt.Sprintf("%T", anything), "data": fmt.Sprintf("%p", anything)},
		"failure":  map[string]string{"type": fmt.Sprintf("%T", failure), "data": fmt.Sprintf("%p", failure)},
		"head":     map[string]string{"address": fmt.Sprintf("%p", head), "name": head.name, "next": head.next.name},
	})
	if path := os.Getenv("STRAND_TRUTH"); path != "" {
		os.WriteFile(path, append(truth, '\n'), 0o644)
	}
	fmt.Println("ready")
	time.Sleep(time.Hour)
}
