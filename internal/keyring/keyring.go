// Package keyring holds the STS's own keys: the asymmetric keys that sign
// session tokens (the first signs, all verify, so a new key can be added
// before the old one is retired) and the separate secret from which secret
// access keys are derived.
package keyring

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/opa-sts/opa-sts/internal/jwks"
)

// MinDerivationSecretBytes is the least entropy accepted for the secret
// access key derivation secret.
const MinDerivationSecretBytes = 32

// SigningKey is one session-token signing key.
type SigningKey struct {
	KID     string
	Alg     string // "EdDSA" or "ES256"
	Private crypto.Signer
}

// Keyring is immutable once built.
type Keyring struct {
	keys       []SigningKey
	derivation []byte
	publicJWKS []byte
	publicSet  *jwks.Set
}

// New builds a keyring from signing keys (the first signs) and the
// derivation secret.
func New(keys []SigningKey, derivationSecret []byte) (*Keyring, error) {
	if len(keys) == 0 {
		return nil, errors.New("keyring: no signing key")
	}
	if len(derivationSecret) < MinDerivationSecretBytes {
		return nil, fmt.Errorf("keyring: derivation secret has %d bytes, need at least %d", len(derivationSecret), MinDerivationSecretBytes)
	}
	seen := map[string]bool{}
	var pubs []any
	for _, k := range keys {
		if seen[k.KID] {
			return nil, fmt.Errorf("keyring: duplicate key id %q", k.KID)
		}
		seen[k.KID] = true
		pub, err := jwk.FromRaw(k.Private.Public())
		if err != nil {
			return nil, fmt.Errorf("keyring: key %s: %w", k.KID, err)
		}
		_ = pub.Set(jwk.KeyIDKey, k.KID)
		_ = pub.Set(jwk.KeyUsageKey, "sig")
		_ = pub.Set(jwk.AlgorithmKey, k.Alg)
		pubs = append(pubs, pub)
	}
	doc, err := json.Marshal(map[string]any{"keys": pubs})
	if err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	set, err := jwks.Parse(doc)
	if err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	if set.Len() != len(keys) {
		return nil, errors.New("keyring: a signing key is not usable for verification")
	}
	return &Keyring{keys: keys, derivation: append([]byte(nil), derivationSecret...), publicJWKS: doc, publicSet: set}, nil
}

// Signer returns the key that signs new session tokens.
func (k *Keyring) Signer() SigningKey { return k.keys[0] }

// PublicJWKS is the JSON Web Key Set of all verification keys, for
// publication.
func (k *Keyring) PublicJWKS() []byte { return k.publicJWKS }

// PublicSet is the parsed public key set.
func (k *Keyring) PublicSet() *jwks.Set { return k.publicSet }

// DerivationSecret is the secret access key derivation secret.
func (k *Keyring) DerivationSecret() []byte { return k.derivation }

// Generate makes a fresh in-memory keyring (one Ed25519 key): for opa eval
// and opa test, where no keys are configured.
func Generate() (*Keyring, error) {
	key, err := newSigningKey()
	if err != nil {
		return nil, err
	}
	secret := make([]byte, MinDerivationSecretBytes)
	if _, err := rand.Read(secret); err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	return New([]SigningKey{key}, secret)
}

func newSigningKey() (SigningKey, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return SigningKey{}, fmt.Errorf("keyring: generate key: %w", err)
	}
	return fromSigner(priv)
}

func fromSigner(s crypto.Signer) (SigningKey, error) {
	var alg string
	switch pub := s.Public().(type) {
	case ed25519.PublicKey:
		alg = "EdDSA"
	case *ecdsa.PublicKey:
		if pub.Curve != elliptic.P256() {
			return SigningKey{}, errors.New("keyring: only P-256 ECDSA keys are supported (ES256)")
		}
		alg = "ES256"
	default:
		return SigningKey{}, fmt.Errorf("keyring: unsupported signing key type %T (use Ed25519 or ECDSA P-256: RSA signing is 25x slower)", pub)
	}
	pub, err := jwk.FromRaw(s.Public())
	if err != nil {
		return SigningKey{}, fmt.Errorf("keyring: %w", err)
	}
	tp, err := pub.Thumbprint(crypto.SHA256)
	if err != nil {
		return SigningKey{}, fmt.Errorf("keyring: %w", err)
	}
	return SigningKey{KID: base64.RawURLEncoding.EncodeToString(tp)[:16], Alg: alg, Private: s}, nil
}

// LoadSigningKey reads a PKCS#8 PEM private key (Ed25519 or ECDSA P-256).
// Its kid is derived from the RFC 7638 thumbprint, so every replica that
// shares the file agrees on it.
func LoadSigningKey(path string) (SigningKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return SigningKey{}, fmt.Errorf("keyring: read signing key: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return SigningKey{}, fmt.Errorf("keyring: %s: no PEM block", path)
	}
	var key any
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		return SigningKey{}, fmt.Errorf("keyring: %s: unsupported PEM type %q", path, block.Type)
	}
	if err != nil {
		return SigningKey{}, fmt.Errorf("keyring: %s: %w", path, err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return SigningKey{}, fmt.Errorf("keyring: %s: not a signing key", path)
	}
	return fromSigner(signer)
}

// LoadDerivationSecret reads the derivation secret: a file holding at least
// 32 random bytes, base64-encoded (standard or URL alphabet) on one line.
func LoadDerivationSecret(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("keyring: read derivation secret: %w", err)
	}
	text := strings.TrimSpace(string(data))
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(text); err == nil {
			if len(b) < MinDerivationSecretBytes {
				return nil, fmt.Errorf("keyring: %s: derivation secret has %d bytes, need at least %d", path, len(b), MinDerivationSecretBytes)
			}
			return b, nil
		}
	}
	return nil, fmt.Errorf("keyring: %s: derivation secret is not base64", path)
}

// Files names the key files of a keyring.
type Files struct {
	SigningKeys      []string // PEM files; the first signs
	DerivationSecret string
}

// Load reads a keyring from files.
func Load(f Files) (*Keyring, error) {
	var keys []SigningKey
	for _, p := range f.SigningKeys {
		k, err := LoadSigningKey(p)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	secret, err := LoadDerivationSecret(f.DerivationSecret)
	if err != nil {
		return nil, err
	}
	return New(keys, secret)
}

// DefaultFiles are the file names used in a directory by EnsureFiles.
func DefaultFiles(dir string) Files {
	return Files{
		SigningKeys:      []string{filepath.Join(dir, "sts-signing-key.pem")},
		DerivationSecret: filepath.Join(dir, "sts-derivation-secret"),
	}
}

// EnsureFiles creates the files of DefaultFiles(dir) that do not exist yet
// (directory 0700, files 0600) and reports which ones it created.
func EnsureFiles(dir string) (created []string, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	f := DefaultFiles(dir)
	if _, err := os.Stat(f.SigningKeys[0]); errors.Is(err, os.ErrNotExist) {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("keyring: %w", err)
		}
		der, err := x509.MarshalPKCS8PrivateKey(priv)
		if err != nil {
			return nil, fmt.Errorf("keyring: %w", err)
		}
		if err := writeNew(f.SigningKeys[0], pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})); err != nil {
			return nil, err
		}
		created = append(created, f.SigningKeys[0])
	}
	if _, err := os.Stat(f.DerivationSecret); errors.Is(err, os.ErrNotExist) {
		secret := make([]byte, 32)
		if _, err := rand.Read(secret); err != nil {
			return nil, fmt.Errorf("keyring: %w", err)
		}
		if err := writeNew(f.DerivationSecret, []byte(base64.StdEncoding.EncodeToString(secret)+"\n")); err != nil {
			return nil, err
		}
		created = append(created, f.DerivationSecret)
	}
	return created, nil
}

// writeNew writes a new file with mode 0600, failing if it exists.
func writeNew(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("keyring: create %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("keyring: write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("keyring: sync %s: %w", path, err)
	}
	return f.Close()
}
