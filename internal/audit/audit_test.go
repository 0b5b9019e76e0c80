package audit

import (
	"regexp"
	"strings"
	"testing"
)

func TestFingerprint(t *testing.T) {
	const secret = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl"
	f := Fingerprint(secret)
	if !strings.HasPrefix(f, "redacted:sha256:") || strings.Contains(f, secret) || len(f) != len("redacted:sha256:")+16 {
		t.Fatalf("fingerprint %q", f)
	}
	if Fingerprint(secret) != f || Fingerprint(secret+"x") == f {
		t.Fatal("a fingerprint must be stable and tell secrets apart")
	}
	if Fingerprint("") != "" {
		t.Fatal("no secret, no fingerprint")
	}
}

func TestNewID(t *testing.T) {
	re := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	a, b := NewID(), NewID()
	if !re.MatchString(a) || a == b {
		t.Fatalf("ids %q %q", a, b)
	}
}
