// Package sts is the OPA plugin that serves the Security Token Service:
// AssumeRoleWithClientGrants and AssumeRoleWithWebIdentity on its own
// listener, decided by Rego (data.sts.decision by default), with
// credentials minted from the STS keyring and registered in a session
// store.
package sts

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/open-policy-agent/opa/v1/logging"
	"github.com/open-policy-agent/opa/v1/plugins"

	"github.com/opa-sts/opa-sts/builtins"
	"github.com/opa-sts/opa-sts/internal/audit"
	"github.com/opa-sts/opa-sts/internal/credentials"
	"github.com/opa-sts/opa-sts/internal/decision"
	"github.com/opa-sts/opa-sts/internal/keyring"
	"github.com/opa-sts/opa-sts/internal/sessionstore"
	"github.com/opa-sts/opa-sts/internal/stswire"
)

// Factory creates the plugin. Register it with runtime.RegisterPlugin(Name, Factory{}).
type Factory struct{}

// Validate parses and checks the configuration.
func (Factory) Validate(m *plugins.Manager, raw []byte) (any, error) {
	dir, err := m.Config.GetPersistenceDirectory()
	if err != nil {
		return nil, fmt.Errorf("plugins.%s: %w", Name, err)
	}
	return parseConfig(raw, dir)
}

// New returns the plugin; it does nothing until Start.
func (Factory) New(m *plugins.Manager, cfg any) plugins.Plugin {
	p := &Plugin{manager: m}
	p.cfg.Store(cfg.(*Config))
	registerRoutes(m, p)
	m.UpdatePluginStatus(Name, &plugins.Status{State: plugins.StateNotReady})
	return p
}

// Plugin is the STS.
type Plugin struct {
	manager *plugins.Manager
	cfg     atomic.Pointer[Config]

	mu       sync.Mutex // guards the fields below across Start/Stop/Reconfigure
	server   *http.Server
	listener net.Listener
	done     chan struct{}
	stopBG   context.CancelFunc

	eval    *decision.Evaluator
	store   sessionstore.Store
	revoked atomic.Pointer[sessionstore.RevocationView] // read lock-free on the request path
	keys    atomic.Pointer[credentials.Minter]
	metrics *metrics
	sem     chan struct{}
	dev     *devIssuer
}

func (p *Plugin) config() *Config             { return p.cfg.Load() }
func (p *Plugin) minter() *credentials.Minter { return p.keys.Load() }
func (p *Plugin) logger() logging.Logger {
	return p.manager.Logger().WithFields(map[string]any{"plugin": Name})
}
func (p *Plugin) setStatus(s plugins.State, msg string) {
	p.manager.UpdatePluginStatus(Name, &plugins.Status{State: s, Message: msg})
}

// Addr returns the address the STS listens on (useful with port 0).
func (p *Plugin) Addr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.listener == nil {
		return ""
	}
	return p.listener.Addr().String()
}

// Start opens the key files, the session store and the listener.
func (p *Plugin) Start(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.start(ctx); err != nil {
		p.setStatus(plugins.StateErr, err.Error())
		return fmt.Errorf("%s plugin: %w", Name, err)
	}
	p.setStatus(plugins.StateOK, "")
	return nil
}

func (p *Plugin) start(ctx context.Context) error {
	cfg := p.config()
	kr, err := p.loadKeys(cfg)
	if err != nil {
		return err
	}
	m, err := credentials.NewMinter(cfg.Issuer, kr)
	if err != nil {
		return err
	}
	p.keys.Store(m)

	if p.metrics == nil {
		if p.metrics, err = newMetrics(p.manager.PrometheusRegister()); err != nil {
			return fmt.Errorf("register metrics: %w", err)
		}
	}
	if p.eval == nil || p.eval.Query() != cfg.decisionQuery {
		p.eval = decision.New(ctx, p.manager, cfg.decisionQuery)
	}

	var follow func(ctx context.Context, view *sessionstore.RevocationView)
	switch cfg.Store.Type {
	case "memory":
		p.store = sessionstore.NewMemory()
	case "etcd":
		st, err := openEtcd(cfg.Store.Etcd)
		if err != nil {
			return fmt.Errorf("open session store: %w", err)
		}
		p.store = st
		follow = func(ctx context.Context, view *sessionstore.RevocationView) {
			st.Follow(ctx, view, func(f string, a ...any) { p.logger().Warn(f, a...) })
		}
	default:
		st, err := sessionstore.OpenBolt(cfg.Store.Path, sessionstore.BoltOptions{Timeout: 5 * time.Second})
		if err != nil {
			return fmt.Errorf("open session store: %w", err)
		}
		p.store = st
	}

	view := sessionstore.NewRevocationView()
	if err := sessionstore.LoadView(ctx, p.store, view); err != nil {
		if follow == nil {
			_ = p.store.Close()
			return fmt.Errorf("load revocations: %w", err)
		}
		// etcd is unreachable: start anyway, so that issued sessions keep
		// verifying (issuance fails closed); the watch loads the
		// revocations as soon as etcd answers.
		p.logger().Error("revocations not loaded yet, etcd unreachable: %v", err)
	}
	p.revoked.Store(view)
	if err := builtins.ConfigureSessions(cfg.Issuer, kr, p.Revoked); err != nil {
		_ = p.store.Close()
		return err
	}

	p.dev = nil
	if cfg.DevIssuer != nil && cfg.DevIssuer.Enabled {
		if p.dev, err = newDevIssuer(cfg); err != nil {
			_ = p.store.Close()
			return err
		}
		p.logger().Warn("DEVELOPMENT token issuer enabled at %s/dev: it hands out tokens to the clients in the configuration. Never enable dev_issuer in production.", cfg.Issuer)
	}

	p.sem = make(chan struct{}, cfg.Limits.MaxConcurrentRequests)
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		_ = p.store.Close()
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	if cfg.TLS != nil {
		cert, err := tls.LoadX509KeyPair(cfg.TLS.CertFile, cfg.TLS.KeyFile)
		if err != nil {
			ln.Close()
			_ = p.store.Close()
			return fmt.Errorf("tls: %w", err)
		}
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: cfg.TLS.minVersion})
	}
	p.listener = ln
	p.server = &http.Server{
		Handler:           p,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          nil,
	}
	p.done = make(chan struct{})
	go func(srv *http.Server, ln net.Listener, done chan struct{}) {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			p.logger().Error("STS listener stopped: %v", err)
			p.setStatus(plugins.StateErr, "listener stopped")
		}
	}(p.server, ln, p.done)

	bg, cancel := context.WithCancel(context.Background())
	p.stopBG = cancel
	if follow != nil {
		// Revocations written by any replica reach this one by watch.
		go follow(bg, view)
	}
	go sessionstore.RunPurger(bg, p.store, time.Duration(cfg.Store.PurgeIntervalSeconds)*time.Second, time.Now,
		func(format string, args ...any) { p.logger().Info(format, args...) })

	p.logger().Info("STS listening on %s (issuer %s, decision %s, store %s)", ln.Addr(), cfg.Issuer, cfg.decisionQuery, cfg.Store.Type)
	return nil
}

func (p *Plugin) loadKeys(cfg *Config) (*keyring.Keyring, error) {
	if len(cfg.Keys.SigningKeyFiles) > 0 {
		return keyring.Load(keyring.Files{SigningKeys: cfg.Keys.SigningKeyFiles, DerivationSecret: cfg.Keys.DerivationSecretFile})
	}
	created, err := keyring.EnsureFiles(cfg.Keys.Dir)
	if err != nil {
		return nil, err
	}
	if len(created) > 0 {
		p.logger().Warn("GENERATED NEW STS KEYS in %s (%v). Replicas must share these files, and they must be backed up: "+
			"losing them invalidates every credential. Configure plugins.%s.keys for production.", cfg.Keys.Dir, created, Name)
	}
	return keyring.Load(keyring.DefaultFiles(cfg.Keys.Dir))
}

// Stop closes the listener (letting requests in flight finish, up to ctx)
// and the session store.
func (p *Plugin) Stop(ctx context.Context) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stop(ctx)
	p.setStatus(plugins.StateNotReady, "")
}

func (p *Plugin) stop(ctx context.Context) {
	if p.server != nil {
		shutdownCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_ = p.server.Shutdown(shutdownCtx)
		cancel()
		<-p.done
		p.server, p.listener = nil, nil
	}
	if p.stopBG != nil {
		p.stopBG()
		p.stopBG = nil
	}
	if p.store != nil {
		if err := p.store.Close(); err != nil {
			p.logger().Error("close session store: %v", err)
		}
		p.store = nil
	}
}

// Reconfigure applies a new configuration by restarting the listener with
// it; requests in flight finish first.
func (p *Plugin) Reconfigure(ctx context.Context, cfg any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stop(ctx)
	p.cfg.Store(cfg.(*Config))
	if err := p.start(ctx); err != nil {
		p.logger().Error("%s plugin: reconfigure: %v", Name, err)
		p.setStatus(plugins.StateErr, err.Error())
		return
	}
	p.setStatus(plugins.StateOK, "")
}

var errNotFound = &stswire.Error{Status: http.StatusNotFound, Type: stswire.TypeSender, Code: "NotFound", Message: "no such endpoint: the STS answers POST /"}

// ServeHTTP routes the STS listener's requests.
func (p *Plugin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	requestID := audit.NewID()
	select {
	case p.sem <- struct{}{}:
		defer func() { <-p.sem }()
	default:
		stswire.WriteError(w, stswire.ServiceUnavailable("too many concurrent requests"), requestID)
		return
	}
	switch {
	case r.URL.Path == "/":
		p.serveSTS(w, r, requestID)
	case r.URL.Path == "/.well-known/jwks.json" && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=300")
		_, _ = w.Write(p.minter().Keyring().PublicJWKS())
	case p.dev != nil && p.dev.handles(r.URL.Path):
		p.dev.ServeHTTP(w, r)
	default:
		stswire.WriteError(w, errNotFound, requestID)
	}
}
