// Package testkeys makes signing keys, key sets and signed tokens for tests
// and benchmarks. It is never imported by production code.
package testkeys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
)

// Key is a private signing key with its kid and algorithm.
type Key struct {
	KID     string
	Alg     string
	Private crypto.Signer
}

// New generates a key for alg (RS256, PS256, ES256, ES384, ES512, EdDSA...).
func New(tb testing.TB, alg, kid string) *Key {
	tb.Helper()
	var priv crypto.Signer
	var err error
	switch alg[:2] {
	case "RS", "PS":
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	case "ES":
		curve := map[string]elliptic.Curve{"ES256": elliptic.P256(), "ES384": elliptic.P384(), "ES512": elliptic.P521()}[alg]
		priv, err = ecdsa.GenerateKey(curve, rand.Reader)
	case "Ed":
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	default:
		tb.Fatalf("testkeys: unsupported alg %s", alg)
	}
	if err != nil {
		tb.Fatal(err)
	}
	return &Key{KID: kid, Alg: alg, Private: priv}
}

// PublicJWK returns the public JWK as a map; withAlg adds the "alg" member.
func (k *Key) PublicJWK(tb testing.TB, withAlg bool) map[string]any {
	tb.Helper()
	pub, err := jwk.FromRaw(k.Private.Public())
	if err != nil {
		tb.Fatal(err)
	}
	_ = pub.Set(jwk.KeyIDKey, k.KID)
	_ = pub.Set(jwk.KeyUsageKey, "sig")
	if withAlg {
		_ = pub.Set(jwk.AlgorithmKey, jwa.SignatureAlgorithm(k.Alg))
	}
	var m map[string]any
	raw, _ := json.Marshal(pub)
	_ = json.Unmarshal(raw, &m)
	return m
}

// JWKS returns a key set document holding the given JWKs.
func JWKS(keys ...map[string]any) []byte {
	list := make([]any, len(keys))
	for i, k := range keys {
		list[i] = k
	}
	b, _ := json.Marshal(map[string]any{"keys": list})
	return b
}

// Sign signs claims with k, with header members extra added to the
// protected header (alg and kid are set from the key unless given in extra).
func (k *Key) Sign(tb testing.TB, claims map[string]any, extra map[string]any) string {
	tb.Helper()
	payload, err := json.Marshal(claims)
	if err != nil {
		tb.Fatal(err)
	}
	hdr := jws.NewHeaders()
	if k.KID != "" {
		_ = hdr.Set(jws.KeyIDKey, k.KID)
	}
	_ = hdr.Set(jws.TypeKey, "JWT")
	for name, v := range extra {
		if err := hdr.Set(name, v); err != nil {
			tb.Fatal(err)
		}
	}
	out, err := jws.Sign(payload, jws.WithKey(jwa.SignatureAlgorithm(k.Alg), k.Private, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		tb.Fatal(err)
	}
	return string(out)
}

// Compact assembles a token from raw header and claims JSON and a raw
// signature, without signing: for malformed-input tests.
func Compact(header, claims string, sig []byte) string {
	enc := base64.RawURLEncoding.EncodeToString
	return fmt.Sprintf("%s.%s.%s", enc([]byte(header)), enc([]byte(claims)), enc(sig))
}
