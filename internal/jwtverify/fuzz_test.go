package jwtverify_test

import (
	"context"
	"strings"
	"testing"

	"github.com/opa-sts/opa-sts/internal/jwtverify"
)

// FuzzVerifyTamperedToken: one valid token; the fuzzer rewrites its
// header, claims and signature segments (seeds: the token itself and
// tampered forms). Whatever comes in, verification never panics, never
// leaks the token in its message, and only the exact original verifies:
// there is one spelling of a valid token.
func FuzzVerifyTamperedToken(f *testing.F) {
	fx := newFixture(f, "ES256")
	p := fx.provider(f, nil)
	valid := fx.key.Sign(f, claims(nil), nil)
	parts := strings.Split(valid, ".")
	f.Add(parts[0], parts[1], parts[2])
	f.Add(parts[0], parts[1]+"x", parts[2])
	f.Add(`eyJhbGciOiJub25lIn0`, parts[1], "")
	f.Add(parts[0], parts[1], parts[2][:10]+"\n"+parts[2][10:])
	f.Add("", "", "")
	f.Fuzz(func(t *testing.T, header, payload, sig string) {
		tok := header + "." + payload + "." + sig
		res, err := fx.verifier.Verify(context.Background(), tok, p, now)
		if err == nil {
			if tok != valid || res == nil {
				t.Fatalf("a token other than the one signed verified: %q", tok)
			}
			return
		}
		if err.Code == "" || (len(tok) > 40 && strings.Contains(err.Message, tok)) {
			t.Fatalf("bad error %+v", err)
		}
		_ = jwtverify.CodeMalformed
	})
}
