package jwks_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/opa-sts/opa-sts/internal/jwks"
	"github.com/opa-sts/opa-sts/internal/testkeys"
)

func TestParseSkipsUnusableKeys(t *testing.T) {
	good := testkeys.New(t, "ES256", "good")
	enc := testkeys.New(t, "RS256", "enc").PublicJWK(t, false)
	enc["use"] = "enc"
	encOps := testkeys.New(t, "RS256", "ops").PublicJWK(t, false)
	delete(encOps, "use")
	encOps["key_ops"] = []any{"encrypt"}
	broken := map[string]any{"kty": "RSA", "kid": "broken", "n": "!!!", "e": "AQAB"}
	oct := map[string]any{"kty": "oct", "kid": "hmac", "k": "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"}
	offCurve := good.PublicJWK(t, false)
	offCurve["kid"] = "offcurve"
	offCurve["y"] = offCurve["x"]

	set, err := jwks.Parse(testkeys.JWKS(enc, encOps, broken, oct, offCurve, good.PublicJWK(t, true)))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if set.Len() != 1 || set.Skipped != 5 {
		t.Fatalf("got %d keys, %d skipped; want 1 and 5", set.Len(), set.Skipped)
	}
	if got := set.Candidates("good", "ES256"); len(got) != 1 {
		t.Fatalf("good key not found")
	}
	for _, kid := range []string{"enc", "ops", "broken", "hmac", "offcurve"} {
		if len(set.ByKID(kid)) != 0 {
			t.Errorf("key %q should have been skipped", kid)
		}
	}
}

func TestParseRejectsWeakRSA(t *testing.T) {
	// A 1024-bit modulus (base64url of 128 bytes with the top bit set).
	n := make([]byte, 128)
	n[0] = 0xc1
	n[127] = 0x01
	weak := map[string]any{"kty": "RSA", "kid": "weak", "e": "AQAB", "n": b64(n)}
	if _, err := jwks.Parse(testkeys.JWKS(weak)); !errors.Is(err, jwks.ErrNoUsableKeys) {
		t.Fatalf("want ErrNoUsableKeys, got %v", err)
	}
}

func TestParseMalformedDocuments(t *testing.T) {
	for name, doc := range map[string]string{
		"not json":      "{",
		"no keys":       `{"foo": []}`,
		"keys not list": `{"keys": {}}`,
		"empty keys":    `{"keys": []}`,
		"array":         `[]`,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := jwks.Parse([]byte(doc)); err == nil {
				t.Fatal("want an error")
			}
		})
	}
}

func TestKeySupportsAlg(t *testing.T) {
	cases := []struct {
		keyAlg, jwkAlg, tokenAlg string
		want                     bool
	}{
		{"RS256", "", "RS256", true},
		{"RS256", "", "PS384", true},
		{"RS256", "RS256", "PS256", false}, // the JWK's own alg must agree
		{"RS256", "", "ES256", false},
		{"RS256", "", "HS256", false},
		{"ES256", "", "ES256", true},
		{"ES256", "", "ES384", false}, // curve must fit
		{"ES384", "", "ES384", true},
		{"EdDSA", "", "EdDSA", true},
		{"EdDSA", "", "ES256", false},
	}
	for _, c := range cases {
		k := testkeys.New(t, c.keyAlg, "k")
		set, err := jwks.Parse(testkeys.JWKS(k.PublicJWK(t, false)))
		if err != nil {
			t.Fatal(err)
		}
		key := set.Keys()[0]
		key.Alg = c.jwkAlg
		if got := key.SupportsAlg(c.tokenAlg); got != c.want {
			t.Errorf("%s key (jwk alg %q) for %s: got %v want %v", c.keyAlg, c.jwkAlg, c.tokenAlg, got, c.want)
		}
	}
}

func b64(b []byte) string {
	s, _ := json.Marshal(b) // standard base64 with padding
	raw := string(s[1 : len(s)-1])
	out := []rune{}
	for _, r := range raw {
		switch r {
		case '+':
			r = '-'
		case '/':
			r = '_'
		case '=':
			continue
		}
		out = append(out, r)
	}
	return string(out)
}
