// Package jwks parses JSON Web Key Sets and keeps a process-wide cache of the
// key sets published by identity providers.
//
// A key set is always bound to the issuer it was fetched for: the cache key is
// (issuer, location), so a key published by one identity provider can never
// verify a token that names another.
package jwks

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/lestrrat-go/jwx/v2/jwk"
)

// MinRSABits is the smallest RSA modulus accepted for signature verification.
const MinRSABits = 2048

// Key is one public verification key taken from a JWKS.
type Key struct {
	// KID is the key id ("kid"), possibly empty.
	KID string
	// Alg is the algorithm the JWK is restricted to ("alg"), possibly empty.
	Alg string
	// Public is *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey.
	Public crypto.PublicKey
	// Thumbprint is the RFC 7638 SHA-256 thumbprint, base64url: a stable
	// identity of the key material regardless of its kid.
	Thumbprint string
}

// SupportsAlg reports whether the key may verify a signature made with alg:
// the key type (and curve) must fit the algorithm, and a JWK that names its
// own algorithm must name exactly this one.
func (k *Key) SupportsAlg(alg string) bool {
	if k.Alg != "" && k.Alg != alg {
		return false
	}
	switch pub := k.Public.(type) {
	case *rsa.PublicKey:
		switch alg {
		case "RS256", "RS384", "RS512", "PS256", "PS384", "PS512":
			return true
		}
	case *ecdsa.PublicKey:
		switch alg {
		case "ES256":
			return pub.Curve == elliptic.P256()
		case "ES384":
			return pub.Curve == elliptic.P384()
		case "ES512":
			return pub.Curve == elliptic.P521()
		}
	case ed25519.PublicKey:
		return alg == "EdDSA"
	}
	return false
}

// Set is an immutable, parsed key set. Only keys usable for signature
// verification are kept.
type Set struct {
	keys        []*Key
	byKID       map[string][]*Key
	thumbprints map[string]struct{}
	// Skipped counts the entries that were ignored (encryption keys,
	// symmetric keys, weak or broken keys).
	Skipped int
}

// Keys returns every key of the set.
func (s *Set) Keys() []*Key { return s.keys }

// Len is the number of usable keys.
func (s *Set) Len() int { return len(s.keys) }

// ByKID returns the keys with the given kid.
func (s *Set) ByKID(kid string) []*Key { return s.byKID[kid] }

// HasThumbprint reports whether the key material with that thumbprint is
// still part of the set.
func (s *Set) HasThumbprint(tp string) bool {
	_, ok := s.thumbprints[tp]
	return ok
}

// Candidates returns the keys that may verify a token signed with alg and
// carrying the given kid. A token without kid may be verified by any key of
// the set that fits the algorithm (as go-oidc does); a token with a kid only
// by keys with that kid.
func (s *Set) Candidates(kid, alg string) []*Key {
	var pool []*Key
	if kid != "" {
		pool = s.byKID[kid]
	} else {
		pool = s.keys
	}
	var out []*Key
	for _, k := range pool {
		if k.SupportsAlg(alg) {
			out = append(out, k)
		}
	}
	return out
}

// ErrNoUsableKeys is returned when a JWKS document holds no key that can
// verify signatures.
var ErrNoUsableKeys = errors.New("the key set has no usable signature verification key")

// Parse parses a JWKS document ({"keys": [...]}). Each key is parsed on its
// own so that one broken or unsupported key does not hide the others. Keys
// meant for encryption ("use": "enc"), symmetric keys, and RSA keys shorter
// than MinRSABits are skipped; private keys are reduced to their public part.
func Parse(data []byte) (*Set, error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("parse key set: %w", err)
	}
	if doc.Keys == nil {
		return nil, errors.New(`parse key set: no "keys" member`)
	}
	set := &Set{
		byKID:       make(map[string][]*Key, len(doc.Keys)),
		thumbprints: make(map[string]struct{}, len(doc.Keys)),
	}
	for _, raw := range doc.Keys {
		k, ok := parseKey(raw)
		if !ok {
			set.Skipped++
			continue
		}
		set.keys = append(set.keys, k)
		set.byKID[k.KID] = append(set.byKID[k.KID], k)
		set.thumbprints[k.Thumbprint] = struct{}{}
	}
	if len(set.keys) == 0 {
		return nil, ErrNoUsableKeys
	}
	return set, nil
}

func parseKey(raw json.RawMessage) (*Key, bool) {
	key, err := jwk.ParseKey(raw)
	if err != nil {
		return nil, false
	}
	if use := key.KeyUsage(); use != "" && use != string(jwk.ForSignature) {
		return nil, false
	}
	if ops := key.KeyOps(); len(ops) > 0 && !containsOp(ops, jwk.KeyOpVerify) {
		return nil, false
	}
	pubKey, err := jwk.PublicKeyOf(key)
	if err != nil {
		return nil, false
	}
	var public crypto.PublicKey
	if err := pubKey.Raw(&public); err != nil {
		return nil, false
	}
	switch pub := public.(type) {
	case *rsa.PublicKey:
		if pub.N.BitLen() < MinRSABits {
			return nil, false
		}
	case *ecdsa.PublicKey:
		// Reject points that are not on the curve (invalid-curve attacks);
		// ECDH() validates the encoding.
		if _, err := pub.ECDH(); err != nil {
			return nil, false
		}
	case ed25519.PublicKey:
	default:
		// Symmetric ("oct") keys and anything else never verify tokens:
		// accepting them would open the HS/RS algorithm-confusion attack.
		return nil, false
	}
	tp, err := pubKey.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, false
	}
	k := &Key{
		KID:        key.KeyID(),
		Public:     public,
		Thumbprint: base64.RawURLEncoding.EncodeToString(tp),
	}
	if alg := key.Algorithm(); alg != nil {
		k.Alg = alg.String()
	}
	return k, true
}

func containsOp(ops jwk.KeyOperationList, want jwk.KeyOperation) bool {
	for _, op := range ops {
		if op == want {
			return true
		}
	}
	return false
}
