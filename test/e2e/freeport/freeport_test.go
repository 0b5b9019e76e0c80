package freeport

import "testing"

func TestPortsAreNeverRepeated(t *testing.T) {
	seen := map[int]bool{}
	low := ephemeralLow()
	for range 500 {
		p := Port(t)
		if p < 1024 || p > 65535 {
			t.Fatalf("port %d", p)
		}
		if seen[p] {
			t.Fatalf("port %d handed out twice", p)
		}
		seen[p] = true
		if low-1-lowest >= 1000 && (p < lowest || p >= low) {
			t.Fatalf("port %d is outside [%d, %d)", p, lowest, low)
		}
	}
}
