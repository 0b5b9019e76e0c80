package minioidentity

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/opa-sts/opa-sts/internal/listener"
	"github.com/opa-sts/opa-sts/internal/secretfile"
)

// Name is the plugin's name under "plugins" in OPA's configuration.
const Name = "minio_identity"

// DefaultAddr is where the plugin listens unless configured: loopback only.
const DefaultAddr = "127.0.0.1:8283"

// Path is the one path served: MINIO_IDENTITY_PLUGIN_URL=http://<addr>/minio/identity.
const Path = "/minio/identity"

// Config is the plugin configuration (plugins.minio_identity).
type Config struct {
	// Addr is the listen address (default 127.0.0.1:8283).
	Addr string `json:"addr"`
	// TLS, when set, serves HTTPS.
	TLS *listener.TLS `json:"tls"`
	// AuthTokenFile holds the token MinIO must present: MinIO sends
	// MINIO_IDENTITY_PLUGIN_AUTH_TOKEN verbatim as Authorization, which
	// must be "Bearer <the file's content>". Required: an identity plugin
	// anyone could call would answer who holds any token.
	AuthTokenFile string `json:"auth_token_file"`
	// AuthToken is refused: GET /v1/config would show it.
	AuthToken string `json:"auth_token"`
	// Decision is the data path of the decision (default
	// "sts/minio/identity", i.e. data.sts.minio.identity).
	Decision string `json:"decision"`
	// DecisionLogs controls decision logging of identity calls.
	DecisionLogs struct {
		Disabled bool `json:"disabled"`
	} `json:"decision_logs"`
	// Limits bound requests.
	Limits Limits `json:"limits"`

	decisionQuery string
	authorization string // "Bearer <token>"
}

// Limits bound requests; zero means the default.
type Limits struct {
	MaxTokenBytes            int `json:"max_token_bytes"`             // default 20000
	MaxConcurrentRequests    int `json:"max_concurrent_requests"`     // default 256; more are answered 503
	RequestTimeoutSeconds    int `json:"request_timeout_seconds"`     // default 5 (MinIO's own timeout)
	MaxConnections           int `json:"max_connections"`             // default 1024
	ReadHeaderTimeoutSeconds int `json:"read_header_timeout_seconds"` // default 5
	WriteTimeoutSeconds      int `json:"write_timeout_seconds"`       // default 10
	IdleTimeoutSeconds       int `json:"idle_timeout_seconds"`        // default 120
}

func parseConfig(raw []byte) (*Config, error) {
	c := &Config{}
	if t := bytes.TrimSpace(raw); len(t) > 0 && !bytes.Equal(t, []byte("null")) {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(c); err != nil {
			return nil, fmt.Errorf("plugins.%s: %w", Name, err)
		}
	}
	if err := c.validate(); err != nil {
		return nil, fmt.Errorf("plugins.%s: %w", Name, err)
	}
	return c, nil
}

func (c *Config) validate() error {
	if c.Addr == "" {
		c.Addr = DefaultAddr
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return fmt.Errorf("addr %q: %w", c.Addr, err)
	}
	if c.TLS != nil {
		if err := c.TLS.Validate(); err != nil {
			return err
		}
	}
	if c.AuthToken != "" {
		return secretfile.Refused("auth_token")
	}
	if c.AuthTokenFile == "" {
		return errors.New("auth_token_file is required: MinIO must authenticate to its identity plugin (MINIO_IDENTITY_PLUGIN_AUTH_TOKEN=\"Bearer <token>\")")
	}
	token, err := secretfile.Read(c.AuthTokenFile)
	if err != nil {
		return fmt.Errorf("auth_token_file: %w", err)
	}
	if len(token) < 16 {
		return errors.New("auth_token_file: the token must have at least 16 characters")
	}
	if strings.ContainsAny(token, " \t\r\n") {
		return errors.New("auth_token_file: the token must be one word (MinIO sends \"Bearer <token>\")")
	}
	c.authorization = "Bearer " + token
	if c.Decision == "" {
		c.Decision = "sts/minio/identity"
	}
	path := strings.Trim(strings.ReplaceAll(c.Decision, ".", "/"), "/")
	path = strings.TrimPrefix(strings.TrimPrefix(path, "data/"), "data")
	path = strings.Trim(path, "/")
	if path == "" {
		return fmt.Errorf("decision %q names no document", c.Decision)
	}
	c.decisionQuery = "data." + strings.ReplaceAll(path, "/", ".")
	l := &c.Limits
	for _, v := range []struct {
		n   *int
		def int
	}{
		{&l.MaxTokenBytes, 20000}, {&l.MaxConcurrentRequests, 256}, {&l.RequestTimeoutSeconds, 5},
		{&l.MaxConnections, 1024}, {&l.ReadHeaderTimeoutSeconds, 5}, {&l.WriteTimeoutSeconds, 10},
		{&l.IdleTimeoutSeconds, 120},
	} {
		switch {
		case *v.n < 0:
			return errors.New("limits must not be negative")
		case *v.n == 0:
			*v.n = v.def
		}
	}
	return nil
}

// URL is the identity plugin's URL, for MINIO_IDENTITY_PLUGIN_URL.
func (c *Config) URL() string {
	scheme := "http"
	if c.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + c.Addr + Path
}
