// Package freeport hands tests TCP ports on 127.0.0.1 that were free a
// moment ago, and never the same port twice in one test process.
//
// The kernel may give a port that was just closed to the next bind to port
// 0, so two ports picked one after the other can be equal; a test that
// starts one server on two "free" ports then fails to start it. The set of
// ports handed out is process-wide state by nature: every test in the
// binary draws from the same kernel.
package freeport

import (
	"net"
	"sync"
	"testing"
)

var (
	mu     sync.Mutex
	issued = map[int]bool{}
)

// Port returns a TCP port that was free on 127.0.0.1 a moment ago and that
// no earlier call in this process returned.
func Port(t testing.TB) int {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("free port: %v", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if !issued[port] {
			issued[port] = true
			return port
		}
	}
	t.Fatalf("free port: the kernel gave only ports handed out before")
	return 0
}
