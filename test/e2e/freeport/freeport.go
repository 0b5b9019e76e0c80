// Package freeport hands tests TCP ports on 127.0.0.1 that were free a
// moment ago, never the same port twice in one test process, and chosen
// where the kernel does not hand out ports itself.
//
// A port from a bind to port 0 comes from the kernel's ephemeral range:
// the kernel may give the same just-closed port to the next bind to port 0
// (two "free" ports of one server then collide), to another test process
// picking its own, or to an outgoing connection before the server under
// test binds it. So ports are drawn at random below the ephemeral range
// (read from /proc/sys/net/ipv4/ip_local_port_range), and by a bind to
// port 0 only where there is no room below it. The set of ports handed out
// is process-wide state by nature: every test in the binary draws from the
// same kernel.
package freeport

import (
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// lowest is the lowest port drawn: above the well-known and most
// registered service ports.
const lowest = 20000

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
	if top := ephemeralLow() - 1; top-lowest >= 1000 {
		for range 200 {
			port := lowest + rand.IntN(top-lowest+1)
			if !issued[port] && bindable(port) {
				issued[port] = true
				return port
			}
		}
	}
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
	t.Fatalf("free port: none found")
	return 0
}

func bindable(port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// ephemeralLow is the lowest port of the kernel's ephemeral range (Linux's
// default 32768 when it cannot be read).
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 32768
	}
	n, err := strconv.Atoi(f[0])
	if err != nil || n < 1024 {
		return 32768
	}
	return n
}
