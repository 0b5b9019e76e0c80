package sts

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"time"
)

// Name is the plugin's name under "plugins" in OPA's configuration.
const Name = "sts"

// DefaultAddr is where the STS listens unless configured: loopback only.
const DefaultAddr = "127.0.0.1:8282"

// Config is the plugin configuration (plugins.sts).
type Config struct {
	// Addr is the listen address (default 127.0.0.1:8282).
	Addr string `json:"addr"`
	// TLS, when set, serves HTTPS.
	TLS *TLSConfig `json:"tls"`
	// Decision is the data path of the decision (default "sts/decision",
	// i.e. data.sts.decision).
	Decision string `json:"decision"`
	// Issuer is the "iss" of the session tokens (default: the listener's URL).
	Issuer string `json:"issuer"`
	// Keys are the signing keys and the derivation secret.
	Keys KeysConfig `json:"keys"`
	// Store is the session registry.
	Store StoreConfig `json:"store"`
	// Limits bound requests.
	Limits LimitsConfig `json:"limits"`
	// DevIssuer serves a local development token issuer. Never enable it in
	// production: it hands out tokens to anyone who knows a client secret
	// from the configuration.
	DevIssuer *DevIssuerConfig `json:"dev_issuer"`
	// DecisionLogs controls decision logging of STS calls.
	DecisionLogs DecisionLogConfig `json:"decision_logs"`
	// TrustedProxies are the addresses (IPs or CIDRs) of the load
	// balancers or reverse proxies in front of the STS. Only a request
	// from one of them has its X-Forwarded-For read for the client's
	// address (input.source_ip); by default the header is ignored, since
	// anyone can send it.
	TrustedProxies []string `json:"trusted_proxies"`

	decisionQuery  string
	persistDir     string
	trustedProxies []netip.Prefix
}

// TLSConfig configures HTTPS.
type TLSConfig struct {
	CertFile   string `json:"cert_file"`
	KeyFile    string `json:"key_file"`
	MinVersion string `json:"min_version"` // "1.2" (default) or "1.3"

	minVersion uint16
}

// KeysConfig names the key files. With no files, keys are generated into
// the persistence directory on first start (and a warning is logged).
type KeysConfig struct {
	SigningKeyFiles      []string `json:"signing_key_files"`
	DerivationSecretFile string   `json:"derivation_secret_file"`
	// Dir is where generated keys are kept (default <persistence dir>/sts-keys).
	Dir string `json:"dir"`
}

// StoreConfig selects the session store.
type StoreConfig struct {
	Type string `json:"type"` // "bolt" (default), "memory" or "etcd"
	Path string `json:"path"` // bolt file (default <persistence dir>/sts-sessions.db)
	// Etcd configures the etcd store (type "etcd"): shared by replicas.
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
	Password              string   `json:"password"`
	TLS                   *struct {
		CertFile string `json:"cert_file"`
		KeyFile  string `json:"key_file"`
		CAFile   string `json:"ca_file"`
	} `json:"tls"`
}

// LimitsConfig bounds requests.
type LimitsConfig struct {
	MaxBodyBytes          int64 `json:"max_body_bytes"`          // default 256 KiB
	MaxTokenBytes         int   `json:"max_token_bytes"`         // default 20000
	MaxPolicyBytes        int   `json:"max_policy_bytes"`        // default 2048
	RequestTimeoutSeconds int   `json:"request_timeout_seconds"` // default 10
	MaxConcurrentRequests int   `json:"max_concurrent_requests"` // default 1024; more get 503
}

// DecisionLogConfig controls decision logs.
type DecisionLogConfig struct {
	// Disabled turns decision logging of STS calls off (default: on when
	// OPA's decision_logs plugin is configured).
	Disabled bool `json:"disabled"`
}

// DevIssuerConfig configures the development token issuer.
type DevIssuerConfig struct {
	Enabled bool `json:"enabled"`
	// Clients may use the client_credentials grant.
	Clients []DevClient `json:"clients"`
	// TokenTTLSeconds is the access token lifetime (default 300, as Keycloak).
	TokenTTLSeconds int `json:"token_ttl_seconds"`
}

// DevClient is a client of the development issuer.
type DevClient struct {
	ID     string         `json:"id"`
	Secret string         `json:"secret"`
	Claims map[string]any `json:"claims"`
}

// parseConfig decodes and validates raw configuration; persistDir is OPA's
// persistence directory.
func parseConfig(raw []byte, persistDir string) (*Config, error) {
	c := &Config{}
	if len(bytes.TrimSpace(raw)) > 0 && !bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(c); err != nil {
			return nil, fmt.Errorf("plugins.%s: %w", Name, err)
		}
	}
	if err := c.validate(persistDir); err != nil {
		return nil, fmt.Errorf("plugins.%s: %w", Name, err)
	}
	return c, nil
}

func (c *Config) validate(persistDir string) error {
	c.persistDir = persistDir
	if c.Addr == "" {
		c.Addr = DefaultAddr
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return fmt.Errorf("addr %q: %w", c.Addr, err)
	}
	for _, tp := range c.TrustedProxies {
		prefix, err := netip.ParsePrefix(tp)
		if err != nil {
			addr, aerr := netip.ParseAddr(tp)
			if aerr != nil {
				return fmt.Errorf("trusted_proxies: %q is neither an IP address nor a CIDR", tp)
			}
			prefix = netip.PrefixFrom(addr.Unmap(), addr.Unmap().BitLen())
		}
		c.trustedProxies = append(c.trustedProxies, prefix.Masked())
	}
	if c.TLS != nil {
		if c.TLS.CertFile == "" || c.TLS.KeyFile == "" {
			return errors.New("tls: cert_file and key_file are required")
		}
		switch c.TLS.MinVersion {
		case "", "1.2":
			c.TLS.minVersion = tls.VersionTLS12
		case "1.3":
			c.TLS.minVersion = tls.VersionTLS13
		default:
			return fmt.Errorf("tls.min_version %q: use 1.2 or 1.3", c.TLS.MinVersion)
		}
	}
	if c.Decision == "" {
		c.Decision = "sts/decision"
	}
	path := strings.Trim(strings.ReplaceAll(c.Decision, ".", "/"), "/")
	path = strings.TrimPrefix(strings.TrimPrefix(path, "data/"), "data")
	if path == "" {
		return fmt.Errorf("decision %q names no document", c.Decision)
	}
	c.decisionQuery = "data." + strings.ReplaceAll(strings.Trim(path, "/"), "/", ".")
	if c.Issuer == "" {
		scheme := "http"
		if c.TLS != nil {
			scheme = "https"
		}
		c.Issuer = scheme + "://" + c.Addr
	}
	if len(c.Keys.SigningKeyFiles) > 0 && c.Keys.DerivationSecretFile == "" ||
		len(c.Keys.SigningKeyFiles) == 0 && c.Keys.DerivationSecretFile != "" {
		return errors.New("keys: give both signing_key_files and derivation_secret_file, or neither (to generate them)")
	}
	if c.Keys.Dir == "" {
		c.Keys.Dir = filepath.Join(persistDir, "sts-keys")
	}
	switch c.Store.Type {
	case "", "bolt":
		c.Store.Type = "bolt"
		if c.Store.Path == "" {
			c.Store.Path = filepath.Join(persistDir, "sts-sessions.db")
		}
	case "memory":
	case "etcd":
		if c.Store.Etcd == nil || len(c.Store.Etcd.Endpoints) == 0 {
			return errors.New("store.etcd.endpoints is required for the etcd store")
		}
		if t := c.Store.Etcd.TLS; t != nil && (t.CAFile == "" || (t.CertFile == "") != (t.KeyFile == "")) {
			return errors.New("store.etcd.tls needs ca_file, and cert_file with key_file for client certificates")
		}
	default:
		return fmt.Errorf("store.type %q: use bolt, memory or etcd", c.Store.Type)
	}
	if c.Store.PurgeIntervalSeconds < 0 {
		return errors.New("store.purge_interval_seconds must not be negative")
	}
	if c.Store.PurgeIntervalSeconds == 0 {
		c.Store.PurgeIntervalSeconds = 60
	}
	l := &c.Limits
	if l.MaxBodyBytes < 0 || l.MaxTokenBytes < 0 || l.MaxPolicyBytes < 0 || l.RequestTimeoutSeconds < 0 || l.MaxConcurrentRequests < 0 {
		return errors.New("limits must not be negative")
	}
	if l.MaxBodyBytes == 0 {
		l.MaxBodyBytes = 256 << 10
	}
	if l.MaxTokenBytes == 0 {
		l.MaxTokenBytes = 20000
	}
	if l.MaxPolicyBytes == 0 {
		l.MaxPolicyBytes = 2048
	}
	if l.RequestTimeoutSeconds == 0 {
		l.RequestTimeoutSeconds = 10
	}
	if l.MaxConcurrentRequests == 0 {
		l.MaxConcurrentRequests = 1024
	}
	if d := c.DevIssuer; d != nil && d.Enabled {
		if len(d.Clients) == 0 {
			return errors.New("dev_issuer: at least one client is required")
		}
		for i, cl := range d.Clients {
			if cl.ID == "" || len(cl.Secret) < 8 {
				return fmt.Errorf("dev_issuer.clients[%d]: id and a secret of at least 8 characters are required", i)
			}
		}
		if d.TokenTTLSeconds < 0 {
			return errors.New("dev_issuer.token_ttl_seconds must not be negative")
		}
		if d.TokenTTLSeconds == 0 {
			d.TokenTTLSeconds = 300
		}
	}
	return nil
}

func (l LimitsConfig) requestTimeout() time.Duration {
	return time.Duration(l.RequestTimeoutSeconds) * time.Second
}
