// One goroutine blocked in each way Go 1.19 parks them, a few running ones
// and one in a system call, for the goroutine commands. Once every one is
// where it should be, the program writes its own dump of all goroutines
// (runtime.Stack(buf, true), the same text as a panic or SIGQUIT prints) to
// $STRAND_TRUTH as a JSON line {"kind": "stack", "text": ..., "dumper": ID}
// (ID: the goroutine that wrote it, running then and asleep afterwards), one
// {"kind": "goroutine", "id": ID, "role": ...} line per goroutine started,
// prints "ready" and sleeps. Three more goroutines (FIXTURE_SENDERS: that
// many) block sending on one channel at one place, for the grouping of
// identical stacks. Two channels only for print: one buffered with two strings
// queued, one closed. Two goroutines ("deadlock") lock two mutexes in opposite
// orders, each recorded as {"kind": "deadlock", "goroutine": ID, "holds": ADDR,
// "waits": ADDR}. The two goroutines in IO wait record their descriptors as
// {"kind": "iowait", "role": ..., "fd": N}. Three goroutines leak: one
// ("leaked send") sends on a channel only it refers to, two ("leaked pair")
// each wait for the other. With FIXTURE_NO_SPIN set, no goroutine runs (for
// comparisons of stacks taken one after the other). Two tickers: tickerLoop's,
// received from, and one dropped unstopped (leakTicker), each recorded as a
// {"kind": "ticker", "channel": "0x...", "period_ns": N, "leaked": B} line.
// Built by the Makefile's fixtures target (also
// without DWARF, -ldflags=-w, and stripped, -s -w).
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

var (
	unread   = make(chan int)
	unsent   = make(chan int)
	nilChan  chan int
	selectA  = make(chan int)
	selectB  = make(chan string)
	selectC  = make(chan struct{})
	buffered = make(chan string, 4) // two strings queued, nobody receives
	closed   = make(chan int)
	held     sync.Mutex
	group    sync.WaitGroup
	cond     = sync.Cond{L: &sync.Mutex{}}
	spinning int64
	roles    = map[int64]string{}
	rolesMu  sync.Mutex
	locks    []map[string]interface{} // who holds which account's mutex and waits for which
	ioFds    = map[string]int{}       // the descriptor each IO wait role waits on
	// tickerLoop's channel, as fmt's %p prints it, for the truth file.
	tickerChan   string
	tickerChanMu sync.Mutex
)

// Two accounts whose transfers lock them in opposite orders: a deadlock.
type account struct {
	mu      sync.Mutex
	balance int
}

// The current goroutine's id, from the header of its own stack dump.
func goid() int64 {
	buf := make([]byte, 64)
	buf = buf[:runtime.Stack(buf, false)]
	id, _ := strconv.ParseInt(strings.Fields(string(buf))[1], 10, 64)
	return id
}

func start(role string, f func()) {
	go func() {
		rolesMu.Lock()
		roles[goid()] = role
		rolesMu.Unlock()
		f()
	}()
}

func chanSend()    { unread <- 1 }
func chanReceive() { <-unsent }
func nilReceive()  { <-nilChan }
func nilSend()     { nilChan <- 1 }

func selectMany() {
	select {
	case <-selectA:
	case s := <-selectB:
		fmt.Println(s)
	case selectC <- struct{}{}:
	}
}

func selectForever() { select {} }

func mutexWait() {
	held.Lock()
	held.Unlock()
}

func groupWait() { group.Wait() }

func condWait() {
	cond.L.Lock()
	cond.Wait()
	cond.L.Unlock()
}

// Locks from, lets the other transfer lock its own, then waits for to's
// mutex, which the other holds.
func transfer(from, to *account, ready *sync.WaitGroup) {
	from.mu.Lock()
	rolesMu.Lock()
	locks = append(locks, map[string]interface{}{"kind": "deadlock", "goroutine": goid(),
		"holds": fmt.Sprintf("%p", &from.mu), "waits": fmt.Sprintf("%p", &to.mu)})
	rolesMu.Unlock()
	ready.Done()
	ready.Wait()
	to.mu.Lock()
	from.balance--
	to.balance++
	to.mu.Unlock()
	from.mu.Unlock()
}

// Sends on a channel only its own stack refers to: nothing can ever receive
// (the classic goroutine leak).
func leakSend() {
	results := make(chan int)
	results <- 42
}

// Two goroutines, each waiting for the other to send first: each holds the
// channel the other waits on, and nothing else refers to either.
//
//go:noinline
func leakPair() {
	a, b := make(chan int), make(chan int)
	start("leaked pair", func() { <-a; b <- 1 })
	start("leaked pair", func() { <-b; a <- 1 })
}

func sleeper() { time.Sleep(time.Hour) }

// A channel's address as fmt's %p prints it, without boxing the channel in
// an interface (a stale copy in the heap would keep the leaked one alive to
// a conservative scan).
func chanAddress(c <-chan time.Time) string {
	return "0x" + strconv.FormatUint(uint64(*(*uintptr)(unsafe.Pointer(&c))), 16)
}

func tickerLoop() {
	t := time.NewTicker(time.Hour)
	tickerChanMu.Lock()
	tickerChan = chanAddress(t.C)
	tickerChanMu.Unlock()
	for range t.C {
		fmt.Println("tick")
	}
}

// A ticker nobody stops and nobody can receive from: only the runtime's timer
// heap holds it (Go before 1.23 never collects it). Not inlined, so that its
// pointers stay out of main's frame.
//
//go:noinline
func leakTicker() string {
	t := time.NewTicker(2 * time.Hour)
	return chanAddress(t.C)
}

// The descriptor of a listener or connection, without duplicating it.
func fdOf(c syscall.Conn) int {
	fd := -1
	if rc, err := c.SyscallConn(); err == nil {
		rc.Control(func(f uintptr) { fd = int(f) })
	}
	return fd
}

func recordFd(role string, c syscall.Conn) {
	rolesMu.Lock()
	ioFds[role] = fdOf(c)
	rolesMu.Unlock()
}

// Waits for a connection nobody makes.
func acceptor(l net.Listener) {
	recordFd("IO wait accept", l.(*net.TCPListener))
	if c, err := l.Accept(); err == nil {
		c.Close()
	}
}

// Accepts the one connection and waits for bytes its client never sends.
func reader(l net.Listener) {
	c, err := l.Accept()
	if err != nil {
		panic(err)
	}
	recordFd("IO wait read", c.(*net.TCPConn))
	buf := make([]byte, 1)
	c.Read(buf)
}

func listen() net.Listener {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	return l
}

// A system call outside the netpoller: a blocking read of a pipe.
func syscallRead(fd int) {
	buf := make([]byte, 1)
	syscall.Read(fd, buf)
}

// Runs until the program ends, yielding its processor now and then so that
// the dump (which stops the world) can be taken.
func spin() {
	for {
		atomic.AddInt64(&spinning, 1)
	}
}

func parked(dump string, wants map[string]int) bool {
	for reason, n := range wants {
		if strings.Count(dump, reason) < n {
			return false
		}
	}
	return true
}

func main() {
	runtime.GOMAXPROCS(2)
	buffered <- "one"
	buffered <- "two"
	close(closed)
	held.Lock()
	group.Add(1)
	start("chan send", chanSend)
	start("chan receive", chanReceive)
	start("chan receive (nil chan)", nilReceive)
	start("chan send (nil chan)", nilSend)
	start("select", selectMany)
	start("select (no cases)", selectForever)
	start("semacquire mutex", mutexWait)
	start("semacquire waitgroup", groupWait)
	start("sync.Cond.Wait", condWait)
	alice, bob := &account{}, &account{}
	var ready sync.WaitGroup
	ready.Add(2)
	start("deadlock", func() { transfer(alice, bob, &ready) })
	start("deadlock", func() { transfer(bob, alice, &ready) })
	start("leaked send", leakSend)
	leakPair()
	start("sleep", sleeper)
	start("ticker", tickerLoop)
	idle, served := listen(), listen()
	start("IO wait accept", func() { acceptor(idle) })
	start("IO wait read", func() { reader(served) })
	client, err := net.Dial("tcp", served.Addr().String())
	if err != nil {
		panic(err)
	}
	defer client.Close()
	var fds [2]int
	if err := syscall.Pipe(fds[:]); err != nil {
		panic(err)
	}
	start("syscall", func() { syscallRead(fds[0]) })
	senders := 3
	if n, err := strconv.Atoi(os.Getenv("FIXTURE_SENDERS")); err == nil {
		senders = n
	}
	for i := 0; i < senders; i++ {
		go chanSend() // no role: the test finds them by their stacks
	}
	wants := map[string]int{"[chan send]": 2 + senders, "[chan receive]": 4, "[chan receive (nil chan)]": 1,
		"[chan send (nil chan)]": 1, "[select]": 1, "[select (no cases)]": 1, "[semacquire]": 4,
		"[sync.Cond.Wait]": 1, "[sleep]": 1, "[IO wait]": 2, "[syscall]": 1}
	goroutines := 19
	if os.Getenv("FIXTURE_NO_SPIN") == "" {
		start("running", spin)
		wants["main.spin("] = 1
		goroutines++
	}
	buf := make([]byte, (senders+100)<<10) // a dump takes some 300 bytes a goroutine
	var dump string
	for i := 0; ; i++ {
		dump = string(buf[:runtime.Stack(buf, true)])
		rolesMu.Lock()
		started := len(roles)
		rolesMu.Unlock()
		if started == goroutines && parked(dump, wants) {
			break
		}
		if i == 500 {
			fmt.Fprintln(os.Stderr, "goroutines did not park:\n"+dump)
			os.Exit(1)
		}
		time.Sleep(10 * time.Millisecond)
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.Encode(map[string]interface{}{"kind": "stack", "text": dump, "dumper": goid()})
	for id, role := range roles {
		enc.Encode(map[string]interface{}{"kind": "goroutine", "id": id, "role": role})
	}
	for _, l := range locks {
		enc.Encode(l)
	}
	for role, fd := range ioFds {
		enc.Encode(map[string]interface{}{"kind": "iowait", "role": role, "fd": fd})
	}
	leaked := leakTicker()
	tickerChanMu.Lock()
	enc.Encode(map[string]interface{}{"kind": "ticker", "channel": tickerChan, "period_ns": int64(time.Hour),
		"leaked": false})
	tickerChanMu.Unlock()
	enc.Encode(map[string]interface{}{"kind": "ticker", "channel": leaked, "period_ns": int64(2 * time.Hour),
		"leaked": true})
	if path := os.Getenv("STRAND_TRUTH"); path != "" {
		os.WriteFile(path, out.Bytes(), 0o644)
	}
	fmt.Println("ready")
	time.Sleep(time.Hour)
}
