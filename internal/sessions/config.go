package sessions

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/opa-sts/opa-sts/internal/jwks"
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
	// JWKS tunes the cache of the identity providers' key sets that
	// sts.verify_token uses. Applied whether or not the section configures
	// an authority.
	JWKS *JWKSConfig `json:"jwks"`
	// RevocationSnapshot is the local copy of the revocations of a
	// replicated store (etcd), kept so that a restart while etcd is
	// unreachable still knows them (default
	// <persistence_directory>/sts-revocations.json).
	RevocationSnapshot string `json:"revocation_snapshot"`

	configured bool
}

// JWKSConfig tunes the key-set cache, in whole seconds; a member left out
// keeps its default (jwks.DefaultTiming).
type JWKSConfig struct {
	// DefaultTTLSeconds is the lifetime of a key set whose response
	// announces none (default 900).
	DefaultTTLSeconds *int `json:"default_ttl_seconds"`
	// MinTTLSeconds and MaxTTLSeconds clamp the lifetime announced by
	// Cache-Control or Expires (defaults 60 and 86400).
	MinTTLSeconds *int `json:"min_ttl_seconds"`
	MaxTTLSeconds *int `json:"max_ttl_seconds"`
	// UnknownKIDRefetchSeconds is the least time between two fetches of
	// one key set caused by tokens with an unknown kid (default 5).
	UnknownKIDRefetchSeconds *int `json:"unknown_kid_refetch_seconds"`
	// FailedFetchRetrySeconds is how long a failed fetch is remembered
	// before the next attempt (default 5).
	FailedFetchRetrySeconds *int `json:"failed_fetch_retry_seconds"`
	// MaxStaleSeconds bounds how long past its lifetime the last good key
	// set is used while the IdP cannot be reached (default 86400; 0: never).
	MaxStaleSeconds *int `json:"max_stale_seconds"`
	// FetchTimeoutSeconds bounds one fetch, discovery included (default 5).
	FetchTimeoutSeconds *int `json:"fetch_timeout_seconds"`
}

// jwksLimits are the ranges each JWKSConfig member accepts: wide enough
// for any deployment, narrow enough that a typo (milliseconds for seconds,
// an extra zero) is refused instead of turning off a protection.
var jwksLimits = []struct {
	name     string
	field    func(*JWKSConfig) *int
	min, max int
}{
	{"default_ttl_seconds", func(c *JWKSConfig) *int { return c.DefaultTTLSeconds }, 1, 7 * 86400},
	{"min_ttl_seconds", func(c *JWKSConfig) *int { return c.MinTTLSeconds }, 1, 7 * 86400},
	{"max_ttl_seconds", func(c *JWKSConfig) *int { return c.MaxTTLSeconds }, 1, 7 * 86400},
	{"unknown_kid_refetch_seconds", func(c *JWKSConfig) *int { return c.UnknownKIDRefetchSeconds }, 1, 3600},
	{"failed_fetch_retry_seconds", func(c *JWKSConfig) *int { return c.FailedFetchRetrySeconds }, 1, 3600},
	{"max_stale_seconds", func(c *JWKSConfig) *int { return c.MaxStaleSeconds }, 0, 7 * 86400},
	{"fetch_timeout_seconds", func(c *JWKSConfig) *int { return c.FetchTimeoutSeconds }, 1, 60},
}

// Timing is the key-set cache timing c asks for: the defaults with c's
// members over them. A nil c is the defaults.
func (c *JWKSConfig) Timing() jwks.Timing {
	t := jwks.DefaultTiming()
	if c == nil {
		return t
	}
	set := func(d *time.Duration, v *int) {
		if v != nil {
			*d = time.Duration(*v) * time.Second
		}
	}
	set(&t.DefaultTTL, c.DefaultTTLSeconds)
	set(&t.MinTTL, c.MinTTLSeconds)
	set(&t.MaxTTL, c.MaxTTLSeconds)
	set(&t.RefetchInterval, c.UnknownKIDRefetchSeconds)
	set(&t.NegativeTTL, c.FailedFetchRetrySeconds)
	set(&t.MaxStale, c.MaxStaleSeconds)
	set(&t.FetchTimeout, c.FetchTimeoutSeconds)
	return t
}

func (c *JWKSConfig) validate() error {
	if c == nil {
		return nil
	}
	for _, l := range jwksLimits {
		if v := l.field(c); v != nil && (*v < l.min || *v > l.max) {
			return fmt.Errorf("jwks.%s: %d is outside [%d, %d]", l.name, *v, l.min, l.max)
		}
	}
	t := c.Timing()
	if t.MinTTL > t.DefaultTTL || t.DefaultTTL > t.MaxTTL {
		return fmt.Errorf("jwks: need min_ttl_seconds <= default_ttl_seconds <= max_ttl_seconds, with the defaults for members not given: have %d, %d, %d",
			int(t.MinTTL.Seconds()), int(t.DefaultTTL.Seconds()), int(t.MaxTTL.Seconds()))
	}
	if err := t.Validate(); err != nil {
		return fmt.Errorf("jwks: %w", err)
	}
	return nil
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
	if err := c.JWKS.validate(); err != nil {
		return nil, err
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
// size and the key-set cache: a server that verifies tokens but runs no
// session authority.
func onlyCaches(c *Config) bool {
	probe := *c
	probe.IdentityTokenCacheSize = 0
	probe.JWKS = nil
	return probe.Issuer == "" && len(probe.Keys.SigningKeyFiles) == 0 && probe.Keys.DerivationSecretFile == "" && probe.Keys.Dir == "" &&
		!probe.Keys.Generate && probe.Store.Type == "" && probe.Store.Path == "" && probe.Store.Etcd == nil &&
		probe.Store.PurgeIntervalSeconds == 0 && probe.VerifiedTokenCacheSize == 0 && probe.RevocationSnapshot == ""
}
