package freeport

import "testing"

func TestPortsAreNeverRepeated(t *testing.T) {
	seen := map[int]bool{}
	for range 500 {
		p := Port(t)
		if p <= 0 || p > 65535 {
			t.Fatalf("port %d", p)
		}
		if seen[p] {
			t.Fatalf("port %d handed out twice", p)
		}
		seen[p] = true
	}
}
