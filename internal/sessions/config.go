package sessions

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/opa-sts/opa-sts/internal/secretfile"
)

// DefaultVerifiedTokenCacheSize bounds the cache of verified session tokens.
const DefaultVerifiedTokenCacheSize = 16384

// Config is the session authority's configuration: one section for the
// whole process (plugins.sts_sessions), read once.
type Config struct {
	// Issuer is the "iss" of the session tokens. Every replica that mints
	// or verifies the same sessions names the same issuer.
	Issuer string `json:"issuer"`
	// Keys are the signing keys and the derivation secret.
	Keys KeysConfig `json:"keys"`
	// Store is the session registry and the source of revocations.
	Store StoreConfig `json:"store"`
	// VerifiedTokenCacheSize bounds the cache of verified session tokens
	// (default 16384).
	VerifiedTokenCacheSize int `json:"verified_token_cache_size"`
	// IdentityTokenCacheSize bounds the cache of identity tokens that
	// sts.verify_token has verified (default 16384). Each entry holds a
	// token's decoded claims (a few KB): the cache is the largest part of
	// a busy STS's memory. Applied whether or not the section configures
	// an authority.
	IdentityTokenCacheSize int `json:"identity_token_cache_size"`
	// RevocationSnapshot is the local copy of the revocations of a
	// replicated store (etcd), kept so that a restart while etcd is
	// unreachable still knows them (default
	// <persistence_directory>/sts-revocations.json).
	RevocationSnapshot string `json:"revocation_snapshot"`

	configured bool
}

// KeysConfig names the key files: signing_key_files with
// derivation_secret_file, or a directory (dir, default
// <persistence_directory>/sts-keys) holding them under their default
// names. Keys are generated into dir only with generate: true (a single
// node: replicas must share one set of keys, so they never generate).
type KeysConfig struct {
	SigningKeyFiles      []string `json:"signing_key_files"`
	DerivationSecretFile string   `json:"derivation_secret_file"`
	Dir                  string   `json:"dir"`
	Generate             bool     `json:"generate"`
}

// StoreConfig selects the session store.
type StoreConfig struct {
	Type string `json:"type"` // "bolt" (default), "memory" or "etcd"
	Path string `json:"path"` // bolt file (default <persistence dir>/sts-sessions.db)
	// Etcd configures the etcd store (type "etcd"), shared by replicas.
	Etcd *EtcdConfig `json:"etcd"`
	// PurgeIntervalSeconds is how often expired sessions are removed (default 60).
	PurgeIntervalSeconds int `json:"purge_interval_seconds"`
}

// EtcdConfig is the etcd session store.
type EtcdConfig struct {
	Endpoints             []string `json:"endpoints"`
	Prefix                string   `json:"prefix"` // default "/opa-sts/"
	DialTimeoutSeconds    int      `json:"dial_timeout_seconds"`
	RequestTimeoutSeconds int      `json:"request_timeout_seconds"` // default 3: issuance fails closed that fast
	Username              string   `json:"username"`
	// PasswordFile holds the etcd password (trailing newline ignored).
	// The password is never written inline: OPA serves its configuration
	// on GET /v1/config.
	PasswordFile string `json:"password_file"`
	// Password is refused: see PasswordFile.
	Password string `json:"password"`
	TLS      *struct {
		CertFile string `json:"cert_file"`
		KeyFile  string `json:"key_file"`
		CAFile   string `json:"ca_file"`
	} `json:"tls"`
}

// Configured reports whether the section asks for a session authority:
// an empty section (as every server gets by default) configures none, and
// then the built-ins refuse sessions and the STS and enforcement plugins
// refuse to start.
func (c *Config) Configured() bool { return c != nil && c.configured }

// ParseConfig decodes and validates plugins.sts_sessions; persistDir is
// OPA's persistence directory. Unknown members are errors.
func ParseConfig(raw []byte, persistDir string) (*Config, error) {
	c := &Config{}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) || bytes.Equal(raw, []byte("{}")) {
		return c, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(c); err != nil {
		return nil, err
	}
	if c.IdentityTokenCacheSize < 0 {
		return nil, errors.New("identity_token_cache_size must not be negative")
	}
	if onlyCaches(c) {
		return c, nil // no authority, only the built-ins' cache size
	}
	if err := c.validate(persistDir); err != nil {
		return nil, err
	}
	c.configured = true
	return c, nil
}

func (c *Config) validate(persistDir string) error {
	if c.Issuer == "" {
		return errors.New("issuer is required: the \"iss\" of the session tokens, the same on every replica (e.g. https://sts.example.com)")
	}
	if strings.TrimSpace(c.Issuer) != c.Issuer {
		return errors.New("issuer must not have leading or trailing spaces")
	}
	k := &c.Keys
	if (len(k.SigningKeyFiles) > 0) != (k.DerivationSecretFile != "") {
		return errors.New("keys: give both signing_key_files and derivation_secret_file, or neither (keys.dir)")
	}
	if len(k.SigningKeyFiles) > 0 && (k.Dir != "" || k.Generate) {
		return errors.New("keys: signing_key_files are never generated: drop keys.dir and keys.generate")
	}
	if k.Dir == "" {
		k.Dir = filepath.Join(persistDir, "sts-keys")
	}
	if c.VerifiedTokenCacheSize < 0 {
		return errors.New("verified_token_cache_size must not be negative")
	}
	if c.VerifiedTokenCacheSize == 0 {
		c.VerifiedTokenCacheSize = DefaultVerifiedTokenCacheSize
	}
	s := &c.Store
	switch s.Type {
	case "", "bolt":
		s.Type = "bolt"
		if s.Path == "" {
			s.Path = filepath.Join(persistDir, "sts-sessions.db")
		}
	case "memory":
	case "etcd":
		e := s.Etcd
		if e == nil || len(e.Endpoints) == 0 {
			return errors.New("store.etcd.endpoints is required for the etcd store")
		}
		if t := e.TLS; t != nil && (t.CAFile == "" || (t.CertFile == "") != (t.KeyFile == "")) {
			return errors.New("store.etcd.tls needs ca_file, and cert_file with key_file for client certificates")
		}
		if e.Password != "" {
			return secretfile.Refused("store.etcd.password")
		}
		if (e.Username == "") != (e.PasswordFile == "") {
			return errors.New("store.etcd: give username with password_file, or neither")
		}
		if e.DialTimeoutSeconds < 0 || e.RequestTimeoutSeconds < 0 {
			return errors.New("store.etcd timeouts must not be negative")
		}
		if c.RevocationSnapshot == "" {
			c.RevocationSnapshot = filepath.Join(persistDir, "sts-revocations.json")
		}
	default:
		return fmt.Errorf("store.type %q: use bolt, memory or etcd", s.Type)
	}
	if s.PurgeIntervalSeconds < 0 {
		return errors.New("store.purge_interval_seconds must not be negative")
	}
	if s.PurgeIntervalSeconds == 0 {
		s.PurgeIntervalSeconds = 60
	}
	return nil
}

// onlyCaches reports whether c sets nothing but the identity-token cache
// size: a server that verifies tokens but runs no session authority.
func onlyCaches(c *Config) bool {
	probe := *c
	probe.IdentityTokenCacheSize = 0
	return probe.Issuer == "" && len(probe.Keys.SigningKeyFiles) == 0 && probe.Keys.DerivationSecretFile == "" && probe.Keys.Dir == "" &&
		!probe.Keys.Generate && probe.Store.Type == "" && probe.Store.Path == "" && probe.Store.Etcd == nil &&
		probe.Store.PurgeIntervalSeconds == 0 && probe.VerifiedTokenCacheSize == 0 && probe.RevocationSnapshot == ""
}
