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
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/open-policy-agent/opa/v1/plugins"

	"github.com/opa-sts/opa-sts/internal/decision"
	"github.com/opa-sts/opa-sts/internal/keyring"
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
	// AccessKey and SecretKey are what versitygw signs its requests with
	// (--iam-standalone-access / --iam-standalone-secret).
	AccessKey string `json:"access_key"`
	SecretKey string `json:"secret_key"`
	// Issuer is the STS issuer name of the session tokens (plugins.sts.issuer).
	Issuer string `json:"issuer"`
	// Keys are the STS key files (as plugins.sts.keys; default
	// <persistence_directory>/sts-keys). They are never generated here.
	Keys struct {
		SigningKeyFiles      []string `json:"signing_key_files"`
		DerivationSecretFile string   `json:"derivation_secret_file"`
		Dir                  string   `json:"dir"`
	} `json:"keys"`
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

	query string
}

func parseConfig(raw []byte, persistDir string) (*Config, error) {
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
	case c.AccessKey == "" || len(c.SecretKey) < 16:
		return nil, fmt.Errorf("plugins.%s: access_key and a secret_key of at least 16 characters are required", Name)
	case c.Issuer == "":
		return nil, fmt.Errorf("plugins.%s: issuer (the STS issuer of the session tokens) is required", Name)
	}
	if c.Keys.Dir == "" {
		c.Keys.Dir = filepath.Join(persistDir, "sts-keys")
	}
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
	dir, err := m.Config.GetPersistenceDirectory()
	if err != nil {
		return nil, err
	}
	return parseConfig(raw, dir)
}

// New returns the plugin.
func (Factory) New(m *plugins.Manager, cfg any) plugins.Plugin {
	m.UpdatePluginStatus(Name, &plugins.Status{State: plugins.StateNotReady})
	return &Plugin{manager: m, cfg: cfg.(*Config)}
}

// Plugin serves the protocol.
type Plugin struct {
	manager *plugins.Manager

	// mu orders Start, Stop and Reconfigure; requests never take it, so a
	// shutdown waiting for requests in flight cannot wait on them.
	mu       sync.Mutex
	server   *http.Server
	done     chan struct{}
	keysStop chan struct{} // stops watchKeys

	// state is what requests read, replaced whole by start.
	stateMu  sync.RWMutex
	cfg      *Config
	eval     *decision.Evaluator
	gateway  *gatewayAuth
	metrics  *metrics
	verifier *sessions

	keysMu sync.Mutex // one key load at a time
}

// snapshot returns the state requests work with.
func (p *Plugin) snapshot() (*Config, *decision.Evaluator, *gatewayAuth, *metrics) {
	p.stateMu.RLock()
	defer p.stateMu.RUnlock()
	return p.cfg, p.eval, p.gateway, p.metrics
}

// Start listens on the socket; the plugin is ready once the STS keys load.
func (p *Plugin) Start(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.start(ctx); err != nil {
		p.manager.UpdatePluginStatus(Name, &plugins.Status{State: plugins.StateErr, Message: err.Error()})
		return fmt.Errorf("%s plugin: %w", Name, err)
	}
	p.startWatchingKeys()
	return nil
}

// startWatchingKeys reports the plugin NOT_READY (so /health?plugins
// fails) until the STS keys load, trying again every half second: without
// them no session can be verified, and they may be created later by the
// STS plugin of the same process or by the operator. Called with p.mu held.
func (p *Plugin) startWatchingKeys() {
	p.keysStop = make(chan struct{})
	go p.watchKeys(p.keysStop)
}

func (p *Plugin) watchKeys(stop <-chan struct{}) {
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		_, err := p.sessions()
		select {
		case <-stop:
			return
		default:
		}
		if err == nil {
			p.manager.UpdatePluginStatus(Name, &plugins.Status{State: plugins.StateOK})
			return
		}
		p.manager.UpdatePluginStatus(Name, &plugins.Status{State: plugins.StateNotReady, Message: "waiting for the STS keys: " + err.Error()})
		select {
		case <-stop:
			return
		case <-tick.C:
		}
	}
}

func (p *Plugin) stopWatchingKeys() {
	if p.keysStop != nil {
		close(p.keysStop)
		p.keysStop = nil
	}
}

func (p *Plugin) start(ctx context.Context) error {
	cfg, _, _, m := p.snapshot()
	if m == nil {
		var err error
		if m, err = newMetrics(p.manager.PrometheusRegister()); err != nil {
			return fmt.Errorf("register metrics: %w", err)
		}
	}
	// The keys are loaded on first use (watchKeys): the STS plugin of the
	// same process may be the one that creates them, and plugins start in
	// no fixed order.
	p.stateMu.Lock()
	p.verifier = nil
	p.eval = decision.New(ctx, p.manager, cfg.query)
	p.gateway = newGatewayAuth(cfg.AccessKey, cfg.SecretKey)
	p.metrics = m
	p.stateMu.Unlock()
	ln, err := listen(cfg)
	if err != nil {
		return err
	}
	p.server = &http.Server{Handler: p, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second,
		IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10}
	p.done = make(chan struct{})
	go func(srv *http.Server, done chan struct{}) {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			p.manager.Logger().Error("%s: listener stopped: %v", Name, err)
		}
	}(p.server, p.done)
	p.manager.Logger().Info("%s: versitygw IAM protocol %s on %s (decision %s)", Name, ProtocolVersion, ln.Addr(), cfg.query)
	return nil
}

// sessions returns the session verifier, loading the STS keys when they
// are first needed (and again after a failure).
func (p *Plugin) sessions() (*sessions, error) {
	p.stateMu.RLock()
	v, cfg := p.verifier, p.cfg
	p.stateMu.RUnlock()
	if v != nil {
		return v, nil
	}
	p.keysMu.Lock()
	defer p.keysMu.Unlock()
	p.stateMu.RLock()
	v, cfg = p.verifier, p.cfg
	p.stateMu.RUnlock()
	if v != nil {
		return v, nil // loaded while this call waited
	}
	files := keyring.DefaultFiles(cfg.Keys.Dir)
	if len(cfg.Keys.SigningKeyFiles) > 0 {
		files = keyring.Files{SigningKeys: cfg.Keys.SigningKeyFiles, DerivationSecret: cfg.Keys.DerivationSecretFile}
	}
	kr, err := keyring.Load(files)
	if err != nil {
		return nil, fmt.Errorf("load the STS keys: %w", err)
	}
	v, err = newSessions(cfg.Issuer, kr)
	if err != nil {
		return nil, err
	}
	p.stateMu.Lock()
	if p.cfg == cfg { // not replaced by a reconfiguration meanwhile
		p.verifier = v
	}
	p.stateMu.Unlock()
	return v, nil
}

// Stop closes the socket.
func (p *Plugin) Stop(ctx context.Context) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stopWatchingKeys()
	p.stop(ctx)
	p.manager.UpdatePluginStatus(Name, &plugins.Status{State: plugins.StateNotReady})
}

func (p *Plugin) stop(ctx context.Context) {
	if p.server != nil {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_ = p.server.Shutdown(sctx)
		cancel()
		<-p.done
		p.server = nil
		if cfg, _, _, _ := p.snapshot(); cfg.Socket != "" {
			_ = os.Remove(cfg.Socket)
		}
	}
}

// Reconfigure restarts with the new configuration.
func (p *Plugin) Reconfigure(ctx context.Context, cfg any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stopWatchingKeys()
	p.stop(ctx)
	p.stateMu.Lock()
	p.cfg = cfg.(*Config)
	p.stateMu.Unlock()
	if err := p.start(ctx); err != nil {
		p.manager.UpdatePluginStatus(Name, &plugins.Status{State: plugins.StateErr, Message: err.Error()})
		return
	}
	p.startWatchingKeys()
}

// listen opens the unix socket (0600), or the TCP address with mTLS:
// versitygw must present a client certificate issued by client_ca_file.
func listen(cfg *Config) (net.Listener, error) {
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
		return ln, nil
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
	return tls.NewListener(ln, &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
		MinVersion:   tls.VersionTLS12,
	}), nil
}
