package credentials

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/opa-sts/opa-sts/internal/keyring"
)

// FuzzVerifySessionToken: a session token and its access key id, with
// the fuzzer free to rewrite both. Only the exact pair verifies, and
// nothing panics.
func FuzzVerifySessionToken(f *testing.F) {
	kr, err := keyring.Generate()
	if err != nil {
		f.Fatal(err)
	}
	m, _ := NewMinter("https://sts.fuzz", kr)
	v, _ := NewSessionVerifier("https://sts.fuzz", kr, 64)
	now := time.Now()
	c, err := m.Mint(Grant{Subject: "alice", Duration: time.Hour, Details: []byte(`{"permissions": []}`)}, now)
	if err != nil {
		f.Fatal(err)
	}
	parts := strings.Split(c.SessionToken, ".")
	f.Add(c.AccessKeyID, c.SessionToken)
	f.Add("ASIAAAAAAAAAAAAAAAAA", c.SessionToken)
	f.Add(c.AccessKeyID, parts[0]+"."+parts[1]+"."+parts[2][:20])
	f.Add(c.AccessKeyID, "eyJhbGciOiJub25lIn0."+parts[1]+".")
	f.Fuzz(func(t *testing.T, akid, token string) {
		s, verr := v.Verify(context.Background(), akid, token, now)
		if verr == nil && (token != c.SessionToken || akid != c.AccessKeyID || s.Subject != "alice") {
			t.Fatalf("verified a pair that was never minted: %q %q", akid, token)
		}
	})
}
