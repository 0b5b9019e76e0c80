package idp

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"math/big"
	"strings"
)

// jwk is a private JSON Web Key as oidc-provider expects it.
type jwk map[string]any

// generateSigningKey creates a private JWK for the JWS algorithm alg with a
// fresh random kid. Supported: RS256, PS256 (RSA 2048), ES256 (P-256),
// ES384 (P-384), EdDSA (Ed25519).
func generateSigningKey(alg string) (jwk, error) {
	kid, err := newKID(strings.ToLower(alg))
	if err != nil {
		return nil, err
	}
	b64 := func(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
	bigB64 := func(i *big.Int) string { return b64(i.Bytes()) }
	k := jwk{"kid": kid, "alg": alg, "use": "sig"}
	switch alg {
	case "RS256", "PS256":
		priv, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, err
		}
		priv.Precompute()
		k["kty"] = "RSA"
		k["n"] = bigB64(priv.N)
		k["e"] = bigB64(big.NewInt(int64(priv.E)))
		k["d"] = bigB64(priv.D)
		k["p"] = bigB64(priv.Primes[0])
		k["q"] = bigB64(priv.Primes[1])
		k["dp"] = bigB64(priv.Precomputed.Dp)
		k["dq"] = bigB64(priv.Precomputed.Dq)
		k["qi"] = bigB64(priv.Precomputed.Qinv)
	case "ES256", "ES384":
		curve, crv := elliptic.P256(), "P-256"
		if alg == "ES384" {
			curve, crv = elliptic.P384(), "P-384"
		}
		priv, err := ecdsa.GenerateKey(curve, rand.Reader)
		if err != nil {
			return nil, err
		}
		// Bytes() is the uncompressed point 0x04||X||Y, and the fixed-size scalar.
		pub, err := priv.PublicKey.Bytes()
		if err != nil {
			return nil, err
		}
		d, err := priv.Bytes()
		if err != nil {
			return nil, err
		}
		size := (len(pub) - 1) / 2
		k["kty"] = "EC"
		k["crv"] = crv
		k["x"] = b64(pub[1 : 1+size])
		k["y"] = b64(pub[1+size:])
		k["d"] = b64(d)
	case "EdDSA":
		pub, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		k["kty"] = "OKP"
		k["crv"] = "Ed25519"
		k["x"] = b64(pub)
		k["d"] = b64(priv.Seed())
	default:
		return nil, fmt.Errorf("unsupported signing alg %q (want RS256, PS256, ES256, ES384 or EdDSA)", alg)
	}
	return k, nil
}

// newKID returns prefix-<16 hex chars>.
func newKID(prefix string) (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return prefix + "-" + hex.EncodeToString(b[:]), nil
}
