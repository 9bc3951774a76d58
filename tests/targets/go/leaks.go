// Goroutine leaks of each kind Go 1.26's goroutine leak profile reports
// (the cases its runtime tests expect: nil channels, an empty select,
// channels, selects, a WaitGroup, Mutexes on a stack and on the heap, an
// RWMutex read and write lock, a Cond, and a pair that wait for each other),
// and goroutines just as blocked that are not leaked: on a global channel, a
// global mutex, and a channel a sleeping goroutine will send on. Each one
// records {"kind": "goroutine", "id": ID, "case": ..., "leaked": B} to
// $STRAND_TRUTH once all are parked, then the program prints "ready" and
// sleeps. Built by the Makefile's fixtures target.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

type record struct {
	id     int64
	name   string
	leaked bool
}

var (
	global    = make(chan int)
	globalMu  sync.Mutex
	records   []record
	recordsMu sync.Mutex
)

// Every goroutine spawn starts: main's 15, and one more each from
// mutexOnTheHeap, waitForEachOther and sleeperWillSend.
const spawned = 18

func goid() int64 {
	buf := make([]byte, 64)
	buf = buf[:runtime.Stack(buf, false)]
	id, _ := strconv.ParseInt(strings.Fields(string(buf))[1], 10, 64)
	return id
}

// Starts f in a goroutine that records itself first.
func spawn(name string, leaked bool, f func()) {
	go func() {
		recordsMu.Lock()
		records = append(records, record{goid(), name, leaked})
		recordsMu.Unlock()
		f()
	}()
}

func nilReceive() {
	var c chan int
	<-c
}

func nilSend() {
	var c chan int
	c <- 1
}

func emptySelect() { select {} }

func receiveUnreachable() { <-make(chan int) }

func sendUnreachable() { make(chan int) <- 1 }

func selectUnreachable() {
	select {
	case make(chan int) <- 1:
	case <-make(chan string):
	}
}

// Go's allocator packs pointer-free objects under 16 bytes (a Mutex, a
// WaitGroup) together into 16-byte blocks that any of them keeps alive, for
// its collector as for strand: the ones here are padded out of that.
type paddedGroup struct {
	wg  sync.WaitGroup
	pad [16]byte
}

type paddedMutex struct {
	mu  sync.Mutex
	pad [16]byte
}

func waitGroupOfMyOwn() {
	var g paddedGroup
	g.wg.Add(1)
	g.wg.Wait()
}

func mutexOnMyStack() {
	var m paddedMutex
	m.mu.Lock()
	m.mu.Lock()
}

// The mutex outlives the function that made it, on the heap; only the
// goroutine locking it twice refers to it. Not inlined: in main's frame, a
// slot that once held the mutex would still refer to it for a conservative
// scan, which cannot tell a dead slot of a live frame from a live one.
//
//go:noinline
func mutexOnTheHeap() {
	m := &paddedMutex{}
	spawn("mutex on the heap", true, func() {
		m.mu.Lock()
		m.mu.Lock()
	})
}

func readLockAfterWrite() {
	mu := &sync.RWMutex{}
	mu.Lock()
	mu.RLock()
}

func writeLockTwice() {
	mu := &sync.RWMutex{}
	mu.Lock()
	mu.Lock()
}

func condOfMyOwn() {
	cond := sync.NewCond(&sync.Mutex{})
	cond.L.Lock()
	cond.Wait()
}

// The outer goroutine waits for the inner one, which sends on a channel
// only the outer would receive from after its wait.
func waitForEachOther() {
	ch := make(chan int)
	var g paddedGroup
	g.wg.Add(1)
	spawn("sender the waiter waits for", true, func() {
		ch <- 1
		g.wg.Done()
	})
	g.wg.Wait()
	<-ch
}

// The receiver is not leaked: the sleeper holds its channel and will send.
func sleeperWillSend() {
	ch := make(chan int)
	spawn("receiver a sleeper will wake", false, func() { <-ch })
	time.Sleep(time.Hour)
	ch <- 1
}

func parked() bool {
	buf := make([]byte, 1<<20)
	dump := string(buf[:runtime.Stack(buf, true)])
	recordsMu.Lock()
	defer recordsMu.Unlock()
	return len(records) == spawned && !strings.Contains(dump, "[runnable]")
}

func main() {
	globalMu.Lock()
	spawn("nil receive", true, nilReceive)
	spawn("nil send", true, nilSend)
	spawn("empty select", true, emptySelect)
	spawn("receive on an unreachable channel", true, receiveUnreachable)
	spawn("send on an unreachable channel", true, sendUnreachable)
	spawn("select on unreachable channels", true, selectUnreachable)
	spawn("waitgroup of its own", true, waitGroupOfMyOwn)
	spawn("mutex on its stack", true, mutexOnMyStack)
	mutexOnTheHeap()
	spawn("read lock after its own write lock", true, readLockAfterWrite)
	spawn("write lock twice", true, writeLockTwice)
	spawn("cond of its own", true, condOfMyOwn)
	spawn("waiter for a sender", true, waitForEachOther)
	spawn("receive on a global channel", false, func() { <-global })
	spawn("global mutex", false, func() { globalMu.Lock() })
	spawn("sleeper that will send", false, sleeperWillSend)
	for i := 0; !parked(); i++ {
		if i == 500 {
			fmt.Fprintln(os.Stderr, "goroutines did not park")
			os.Exit(1)
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // the last ones from their record to their wait
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	for _, r := range records {
		enc.Encode(map[string]interface{}{"kind": "goroutine", "id": r.id, "case": r.name, "leaked": r.leaked})
	}
	if path := os.Getenv("STRAND_TRUTH"); path != "" {
		os.WriteFile(path, out.Bytes(), 0o644)
	}
	fmt.Println("ready")
	time.Sleep(time.Hour)
}
