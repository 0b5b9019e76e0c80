// Package s3iam is the OPA plugin that enforces opa-sts credentials on
// versitygw (v1.8.0, --iam-standalone-endpoint): it serves versitygw's
// private IAM protocol on a unix socket, derives SigV4 signing keys for
// valid sessions (the secret never leaves opa-sts) and answers
// evaluate-policy from the request-time Rego decision (data.s3.decision by
// default). docs/versitygw-iam-protocol.md describes the protocol.
package s3iam

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/open-policy-agent/opa/v1/plugins"

	"github.com/opa-sts/opa-sts/internal/core"
	"github.com/opa-sts/opa-sts/internal/decision"
	"github.com/opa-sts/opa-sts/internal/listener"
	"github.com/opa-sts/opa-sts/internal/secretfile"
)

// Name is the plugin's name under "plugins".
const Name = "s3_iam"

// ProtocolVersion is the versitygw private protocol version served.
const ProtocolVersion = "1"

// Config is plugins.s3_iam.
type Config struct {
	// Socket is the unix socket versitygw's --iam-standalone-endpoint names
	// (an absolute path; created 0600). Or:
	Socket string `json:"socket"`
	// Addr is a TCP listen address (host:port) for a versitygw on another
	// host; it requires TLS with client certificates (mTLS).
	Addr string `json:"addr"`
	// TLS is the server certificate and the CA that issues versitygw's
	// client certificates (--iam-standalone-client-cert).
	TLS *struct {
		CertFile     string `json:"cert_file"`
		KeyFile      string `json:"key_file"`
		ClientCAFile string `json:"client_ca_file"`
	} `json:"tls"`
	// AccessKey and the secret in SecretKeyFile are what versitygw signs
	// its requests with (--iam-standalone-access / --iam-standalone-secret).
	// An inline secret_key is refused: GET /v1/config would show it.
	AccessKey     string `json:"access_key"`
	SecretKeyFile string `json:"secret_key_file"`
	SecretKey     string `json:"secret_key"`
	// Issuer and Keys moved to plugins.sts_sessions, the session authority
	// of the process; they are refused here with that advice.
	Issuer json.RawMessage `json:"issuer"`
	Keys   json.RawMessage `json:"keys"`
	// Decision is the request-time decision (default "s3/decision").
	Decision string `json:"decision"`
	// AccountID names the account in ARNs (default 000000000000).
	AccountID string `json:"account_id"`
	// DecisionLogs controls this plugin's entries in OPA's decision log
	// (when the decision_logs plugin is configured). By default only
	// refusals are logged: refused sessions (expired, revoked, tampered,
	// foreign, unknown keys) and evaluate-policy answers with a deny or
	// no_match. Allowed adds every allowed request (one entry per S3
	// request: plan for the volume); Disabled logs nothing.
	DecisionLogs struct {
		Disabled bool `json:"disabled"`
		Allowed  bool `json:"allowed"`
	} `json:"decision_logs"`
	// Limits bound the gateway's requests.
	Limits Limits `json:"limits"`
	// LogDecisions logs one readable line per decision and refusal (the
	// subject, action, resource and outcome; never a secret), for a
	// developer's console: opa-sts dev turns it on. Off by default.
	LogDecisions bool `json:"log_decisions"`

	query     string
	secretKey string // read from SecretKeyFile
}

// Limits bound the gateway's requests; zero means the default.
type Limits struct {
	// MaxBodyBytes bounds a request body (default 4 MiB: an
	// evaluate-policy of DeleteObjects carries up to 1,000 resources).
	MaxBodyBytes int64 `json:"max_body_bytes"`
	// MaxDecisions bounds actions x resources of one evaluate-policy
	// (default 4096).
	MaxDecisions int `json:"max_decisions"`
	// RequestTimeoutSeconds bounds the work on one request (default 9,
	// below versitygw's own 10 s).
	RequestTimeoutSeconds int `json:"request_timeout_seconds"`
	// ReadTimeoutSeconds, WriteTimeoutSeconds and IdleTimeoutSeconds are
	// the listener's (defaults 30, 30, 120).
	ReadTimeoutSeconds  int `json:"read_timeout_seconds"`
	WriteTimeoutSeconds int `json:"write_timeout_seconds"`
	IdleTimeoutSeconds  int `json:"idle_timeout_seconds"`
	// MaxConnections caps the open connections (default 4096); one more
	// gets a bare 503 and is closed, before any TLS handshake, so that
	// peers without a client certificate cannot exhaust file descriptors.
	MaxConnections int `json:"max_connections"`
}

func (l *Limits) defaults() error {
	if l.MaxBodyBytes < 0 || l.MaxDecisions < 0 || l.RequestTimeoutSeconds < 0 || l.ReadTimeoutSeconds < 0 ||
		l.WriteTimeoutSeconds < 0 || l.IdleTimeoutSeconds < 0 || l.MaxConnections < 0 {
		return errors.New("limits must not be negative")
	}
	set := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	if l.MaxBodyBytes == 0 {
		l.MaxBodyBytes = 4 << 20
	}
	set(&l.MaxDecisions, 4096)
	set(&l.RequestTimeoutSeconds, 9)
	set(&l.ReadTimeoutSeconds, 30)
	set(&l.WriteTimeoutSeconds, 30)
	set(&l.IdleTimeoutSeconds, 120)
	set(&l.MaxConnections, 4096)
	return nil
}

func seconds(n int) time.Duration { return time.Duration(n) * time.Second }

func parseConfig(raw []byte) (*Config, error) {
	c := &Config{}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(c); err != nil {
		return nil, fmt.Errorf("plugins.%s: %w", Name, err)
	}
	switch {
	case (c.Socket == "") == (c.Addr == ""):
		return nil, fmt.Errorf("plugins.%s: give socket (a unix socket) or addr (TCP with mTLS)", Name)
	case c.Socket != "" && !filepath.IsAbs(c.Socket):
		return nil, fmt.Errorf("plugins.%s: socket must be an absolute path", Name)
	case c.Addr != "" && (c.TLS == nil || c.TLS.CertFile == "" || c.TLS.KeyFile == "" || c.TLS.ClientCAFile == ""):
		// Like versitygw's own IAM service: no plaintext TCP, ever.
		return nil, fmt.Errorf("plugins.%s: addr requires tls.cert_file, tls.key_file and tls.client_ca_file (mTLS)", Name)
	case c.SecretKey != "":
		return nil, fmt.Errorf("plugins.%s: %w", Name, secretfile.Refused("secret_key"))
	case c.AccessKey == "" || c.SecretKeyFile == "":
		return nil, fmt.Errorf("plugins.%s: access_key and secret_key_file (the gateway's --iam-standalone-secret) are required", Name)
	case c.Issuer != nil || c.Keys != nil:
		return nil, fmt.Errorf("plugins.%s: issuer and keys moved to plugins.%s: the session authority (issuer, keys, store) is one section for the whole process", Name, core.Name)
	}
	if err := c.Limits.defaults(); err != nil {
		return nil, fmt.Errorf("plugins.%s: %w", Name, err)
	}
	secret, err := secretfile.Read(c.SecretKeyFile)
	if err != nil {
		return nil, fmt.Errorf("plugins.%s: secret_key_file: %w", Name, err)
	}
	if len(secret) < 16 {
		return nil, fmt.Errorf("plugins.%s: the gateway secret in secret_key_file must have at least 16 characters", Name)
	}
	c.secretKey = secret
	if c.Decision == "" {
		c.Decision = "s3/decision"
	}
	c.query = "data." + strings.ReplaceAll(strings.Trim(strings.TrimPrefix(c.Decision, "data."), "/"), "/", ".")
	if c.AccountID == "" {
		c.AccountID = "000000000000"
	}
	return c, nil
}

// Factory creates the plugin.
type Factory struct{}

// Validate parses the configuration.
func (Factory) Validate(m *plugins.Manager, raw []byte) (any, error) {
	return parseConfig(raw)
}

// New returns the plugin.
func (Factory) New(m *plugins.Manager, cfg any) plugins.Plugin {
	p := &Plugin{manager: m, cfg: cfg.(*Config)}
	p.listener = listener.NewPlugin(Name, m, p, p.open, p.removeSocket)
	return p
}

// Plugin serves the protocol.
type Plugin struct {
	manager *plugins.Manager

	// listener orders Start, Stop and Reconfigure; cfg is set under its
	// lock.
	listener *listener.Plugin
	cfg      *Config // the configuration to start with

	// state is what requests read: one immutable snapshot, replaced whole.
	state atomic.Pointer[state]
}

// state is everything a request needs, fixed when the plugin (re)starts.
type state struct {
	cfg     *Config
	eval    evaluatorIface
	gateway *gatewayAuth
	metrics *metrics
	core    *core.Plugin // owner of the session authority
}

// Start listens on the socket. Sessions are verified through the
// process's session authority, which must be configured.
func (p *Plugin) Start(ctx context.Context) error { return p.listener.Start(ctx) }

// Stop closes the socket.
func (p *Plugin) Stop(ctx context.Context) { p.listener.Stop(ctx) }

// Reconfigure restarts with the new configuration.
func (p *Plugin) Reconfigure(ctx context.Context, cfg any) {
	p.listener.Reconfigure(ctx, func() { p.cfg = cfg.(*Config) })
}

// open fixes the state requests read and opens the listener.
func (p *Plugin) open(ctx context.Context) (net.Listener, listener.Timeouts, error) {
	cfg := p.cfg
	owner := core.Lookup(p.manager)
	if owner == nil || !owner.Configured() {
		return nil, listener.Timeouts{}, fmt.Errorf("enforcement needs the session authority to verify sessions: configure plugins.%s (issuer and keys, the same as the STS's; store etcd to share its revocations)", core.Name)
	}
	var m *metrics
	if cur := p.state.Load(); cur != nil {
		m = cur.metrics
	} else {
		var err error
		if m, err = newMetrics(p.manager.PrometheusRegister()); err != nil {
			return nil, listener.Timeouts{}, fmt.Errorf("register metrics: %w", err)
		}
	}
	p.state.Store(&state{
		cfg:     cfg,
		eval:    decision.New(ctx, p.manager, cfg.query),
		gateway: newGatewayAuth(cfg.AccessKey, cfg.secretKey),
		metrics: m,
		core:    owner,
	})
	ln, err := listen(cfg, m.connectionsRefused.Inc)
	if err != nil {
		return nil, listener.Timeouts{}, err
	}
	p.manager.Logger().Info("%s: versitygw IAM protocol %s on %s (decision %s)", Name, ProtocolVersion, ln.Addr(), cfg.query)
	l := cfg.Limits
	return ln, listener.Timeouts{
		ReadHeader: 5 * time.Second,
		Read:       seconds(l.ReadTimeoutSeconds),
		Write:      seconds(l.WriteTimeoutSeconds),
		Idle:       seconds(l.IdleTimeoutSeconds),
	}, nil
}

// removeSocket removes the unix socket after the listener closed.
func (p *Plugin) removeSocket() {
	if st := p.state.Load(); st != nil && st.cfg.Socket != "" {
		_ = os.Remove(st.cfg.Socket)
	}
}

// listen opens the unix socket (0600), or the TCP address with mTLS:
// versitygw must present a client certificate issued by client_ca_file.
// Either is capped at limits.max_connections (refused counts the others).
func listen(cfg *Config, refused func()) (net.Listener, error) {
	if cfg.Socket != "" {
		if err := os.Remove(cfg.Socket); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("remove stale socket: %w", err)
		}
		if err := os.MkdirAll(filepath.Dir(cfg.Socket), 0o700); err != nil {
			return nil, err
		}
		ln, err := net.Listen("unix", cfg.Socket)
		if err != nil {
			return nil, fmt.Errorf("listen on %s: %w", cfg.Socket, err)
		}
		if err := os.Chmod(cfg.Socket, 0o600); err != nil {
			ln.Close()
			return nil, err
		}
		return listener.Capped(ln, cfg.Limits.MaxConnections, refused), nil
	}
	cert, err := tls.LoadX509KeyPair(cfg.TLS.CertFile, cfg.TLS.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	caPEM, err := os.ReadFile(cfg.TLS.ClientCAFile)
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("tls: no certificate in client_ca_file")
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	// Capped below TLS: a connection over the cap never costs a handshake.
	return tls.NewListener(listener.Capped(ln, cfg.Limits.MaxConnections, refused), &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
		MinVersion:   tls.VersionTLS12,
	}), nil
}
