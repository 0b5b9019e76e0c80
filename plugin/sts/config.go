package sts

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"time"

	"github.com/opa-sts/opa-sts/internal/listener"
	"github.com/opa-sts/opa-sts/internal/secretfile"
	"github.com/opa-sts/opa-sts/internal/sigv4"
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
	// Issuer, Keys and Store moved to plugins.sts_sessions (the session
	// authority of the process); they are refused here with that advice.
	Issuer json.RawMessage `json:"issuer"`
	Keys   json.RawMessage `json:"keys"`
	Store  json.RawMessage `json:"store"`
	// Limits bound requests.
	Limits LimitsConfig `json:"limits"`
	// DevIssuer serves a local development token issuer. Never enable it in
	// production: it hands out tokens to anyone who knows a client secret
	// from the configuration.
	DevIssuer *DevIssuerConfig `json:"dev_issuer"`
	// DecisionLogs controls decision logging of STS calls.
	DecisionLogs DecisionLogConfig `json:"decision_logs"`
	// LogDecisions logs one readable line per STS answer (who, what was
	// issued or why not; never a secret), for a developer's console:
	// opa-sts dev turns it on. Off by default.
	LogDecisions bool `json:"log_decisions"`
	// TrustedProxies are the addresses (IPs or CIDRs) of the load
	// balancers or reverse proxies in front of the STS. Only a request
	// from one of them has its X-Forwarded-For read for the client's
	// address (input.source_ip); by default the header is ignored, since
	// anyone can send it.
	TrustedProxies []string `json:"trusted_proxies"`
	// Region, when set, is the one region a signed call (AssumeRole,
	// GetCallerIdentity) may be scoped to, as at an AWS regional STS
	// endpoint; another answers SignatureDoesNotMatch. By default any
	// region is accepted.
	Region string `json:"region"`

	decisionQuery  string
	trustedProxies []netip.Prefix
}

// TLSConfig configures HTTPS.
type TLSConfig = listener.TLS

// LimitsConfig bounds requests.
type LimitsConfig struct {
	MaxBodyBytes          int64 `json:"max_body_bytes"`          // default 256 KiB
	MaxTokenBytes         int   `json:"max_token_bytes"`         // default 20000
	MaxPolicyBytes        int   `json:"max_policy_bytes"`        // default 2048
	RequestTimeoutSeconds int   `json:"request_timeout_seconds"` // default 10
	MaxConcurrentRequests int   `json:"max_concurrent_requests"` // default 1024 decisions at once; more get 503
	// BodyReadTimeoutSeconds bounds the wait for a request's body (default
	// 5). The body is read before a decision slot is taken, so clients
	// that trickle a body hold a connection, never a slot.
	BodyReadTimeoutSeconds int `json:"body_read_timeout_seconds"`
	// MaxConnections caps open connections (default 4096); one more is
	// answered 503 and closed at once.
	MaxConnections int `json:"max_connections"`
	// ReadHeaderTimeoutSeconds, WriteTimeoutSeconds and IdleTimeoutSeconds
	// are the listener's (defaults 5, 30, 120).
	ReadHeaderTimeoutSeconds int `json:"read_header_timeout_seconds"`
	WriteTimeoutSeconds      int `json:"write_timeout_seconds"`
	IdleTimeoutSeconds       int `json:"idle_timeout_seconds"`
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
	// KeyFile is the issuer's RSA signing key, created when missing
	// (default <persistence_directory>/sts-dev-issuer-key.pem).
	KeyFile string `json:"key_file"`
}

// DevClient is a client of the development issuer.
type DevClient struct {
	ID string `json:"id"`
	// SecretFile holds the client secret. An inline secret is refused:
	// GET /v1/config would show it.
	SecretFile string         `json:"secret_file"`
	Secret     string         `json:"secret"`
	Claims     map[string]any `json:"claims"`
	// Scopes are the scopes the client may be granted (default
	// ["profile"]); a token request for any other is invalid_scope.
	Scopes []string `json:"scopes"`

	secret string
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

// URL is the listener's base URL (http or https, by the TLS setting).
func (c *Config) URL() string {
	if c.TLS != nil {
		return "https://" + c.Addr
	}
	return "http://" + c.Addr
}

func (c *Config) validate(persistDir string) error {
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
		if err := c.TLS.Validate(); err != nil {
			return err
		}
	}
	if c.Region != "" && !sigv4.IsAWSName(c.Region) {
		return fmt.Errorf("region %q: a region is lower-case letters, digits and '-' (us-east-1)", c.Region)
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
	for name, raw := range map[string]json.RawMessage{"issuer": c.Issuer, "keys": c.Keys, "store": c.Store} {
		if raw != nil {
			return fmt.Errorf("%s moved to plugins.sts_sessions.%s: the session authority (issuer, keys, store) is one section for the whole process, shared by the STS and enforcement", name, name)
		}
	}
	l := &c.Limits
	if l.MaxBodyBytes < 0 {
		return errors.New("limits must not be negative")
	}
	if l.MaxBodyBytes == 0 {
		l.MaxBodyBytes = 256 << 10
	}
	for _, v := range []struct {
		n   *int
		def int
	}{
		{&l.MaxTokenBytes, 20000}, {&l.MaxPolicyBytes, 2048}, {&l.RequestTimeoutSeconds, 10},
		{&l.MaxConcurrentRequests, 1024}, {&l.BodyReadTimeoutSeconds, 5}, {&l.MaxConnections, 4096},
		{&l.ReadHeaderTimeoutSeconds, 5}, {&l.WriteTimeoutSeconds, 30}, {&l.IdleTimeoutSeconds, 120},
	} {
		switch {
		case *v.n < 0:
			return errors.New("limits must not be negative")
		case *v.n == 0:
			*v.n = v.def
		}
	}
	if d := c.DevIssuer; d != nil && d.Enabled {
		if len(d.Clients) == 0 {
			return errors.New("dev_issuer: at least one client is required")
		}
		for i := range d.Clients {
			cl := &d.Clients[i]
			if cl.Secret != "" {
				return fmt.Errorf("dev_issuer.clients[%d]: %w", i, secretfile.Refused("secret"))
			}
			if cl.ID == "" || cl.SecretFile == "" {
				return fmt.Errorf("dev_issuer.clients[%d]: id and secret_file are required", i)
			}
			secret, err := secretfile.Read(cl.SecretFile)
			if err != nil {
				return fmt.Errorf("dev_issuer.clients[%d].secret_file: %w", i, err)
			}
			if len(secret) < 8 {
				return fmt.Errorf("dev_issuer.clients[%d]: the secret must have at least 8 characters", i)
			}
			cl.secret = secret
			if len(cl.Scopes) == 0 {
				cl.Scopes = []string{"profile"}
			}
		}
		if d.TokenTTLSeconds < 0 {
			return errors.New("dev_issuer.token_ttl_seconds must not be negative")
		}
		if d.TokenTTLSeconds == 0 {
			d.TokenTTLSeconds = 300
		}
		if d.KeyFile == "" {
			d.KeyFile = filepath.Join(persistDir, "sts-dev-issuer-key.pem")
		}
	}
	return nil
}

func (l LimitsConfig) requestTimeout() time.Duration {
	return time.Duration(l.RequestTimeoutSeconds) * time.Second
}
