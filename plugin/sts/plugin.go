// Package sts is the OPA plugin that serves the Security Token Service:
// AssumeRoleWithClientGrants and AssumeRoleWithWebIdentity on its own
// listener, decided by Rego (data.sts.decision by default), with
// credentials minted and registered through the process's session
// authority (internal/sessions, found with core.Lookup).
package sts

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/open-policy-agent/opa/v1/logging"
	"github.com/open-policy-agent/opa/v1/plugins"

	"github.com/opa-sts/opa-sts/internal/audit"
	"github.com/opa-sts/opa-sts/internal/core"
	"github.com/opa-sts/opa-sts/internal/decision"
	"github.com/opa-sts/opa-sts/internal/listener"
	"github.com/opa-sts/opa-sts/internal/sessions"
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
	m.UpdatePluginStatus(Name, &plugins.Status{State: plugins.StateNotReady})
	return p
}

// Plugin is the STS.
type Plugin struct {
	manager *plugins.Manager
	cfg     atomic.Pointer[Config]

	mu     sync.Mutex // guards the fields below across Start/Stop/Reconfigure
	server *listener.Server

	eval    *decision.Evaluator
	core    *core.Plugin // the session authority's owner
	metrics *metrics
	sem     chan struct{}
	dev     *devIssuer
}

func (p *Plugin) config() *Config { return p.cfg.Load() }

// authority is the session authority, or nil while there is none (not
// opened yet, or stopped): requests are refused then.
func (p *Plugin) authority() *sessions.Authority { return p.core.Authority() }
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
	if p.server == nil {
		return ""
	}
	return p.server.Addr().String()
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
	if p.core = core.Lookup(p.manager); p.core == nil || !p.core.Configured() {
		return fmt.Errorf("the STS needs the session authority: configure plugins.%s (issuer, keys, store)", core.Name)
	}
	var err error
	if p.metrics == nil {
		if p.metrics, err = newMetrics(p.manager.PrometheusRegister()); err != nil {
			return fmt.Errorf("register metrics: %w", err)
		}
	}
	if p.eval == nil || p.eval.Query() != cfg.decisionQuery {
		p.eval = decision.New(ctx, p.manager, cfg.decisionQuery)
	}

	p.dev = nil
	if cfg.DevIssuer != nil && cfg.DevIssuer.Enabled {
		if p.dev, err = newDevIssuer(cfg); err != nil {
			return err
		}
		p.logger().Warn("DEVELOPMENT token issuer enabled at %s: it hands out tokens to the clients in the configuration. Never enable dev_issuer in production.", p.dev.issuer)
	}

	p.sem = make(chan struct{}, cfg.Limits.MaxConcurrentRequests)
	ln, err := listener.Listen(cfg.Addr, cfg.TLS, cfg.Limits.MaxConnections, p.metrics.connectionsRefused.Inc)
	if err != nil {
		return err
	}
	sec := func(n int) time.Duration { return time.Duration(n) * time.Second }
	p.server = listener.Serve(ln, p, listener.Timeouts{
		ReadHeader: sec(cfg.Limits.ReadHeaderTimeoutSeconds),
		Read:       sec(cfg.Limits.ReadHeaderTimeoutSeconds + cfg.Limits.BodyReadTimeoutSeconds), // the body has its own, shorter deadline,
		Write:      sec(cfg.Limits.WriteTimeoutSeconds),
		Idle:       sec(cfg.Limits.IdleTimeoutSeconds),
	}, func(err error) {
		p.logger().Error("STS listener stopped: %v", err)
		p.setStatus(plugins.StateErr, "listener stopped")
	})

	p.logger().Info("STS listening on %s (decision %s)", ln.Addr(), cfg.decisionQuery)
	return nil
}

// Stop closes the listener, letting requests in flight finish (up to ctx).
func (p *Plugin) Stop(ctx context.Context) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stop(ctx)
	p.setStatus(plugins.StateNotReady, "")
}

func (p *Plugin) stop(ctx context.Context) {
	if p.server != nil {
		p.server.Shutdown(ctx)
		p.server = nil
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

var errBusy = stswire.ServiceUnavailable("too many concurrent requests")

// takeSlot takes one of the max_concurrent_requests slots, without
// waiting.
func (p *Plugin) takeSlot() bool {
	select {
	case p.sem <- struct{}{}:
		return true
	default:
		return false
	}
}

func (p *Plugin) releaseSlot() { <-p.sem }

var errNoAuthority = stswire.ServiceUnavailable("the session authority is not running")

var errNotFound = &stswire.Error{Status: http.StatusNotFound, Type: stswire.TypeSender, Code: "NotFound", Message: "no such endpoint: the STS answers POST /"}

// ServeHTTP routes the STS listener's requests.
func (p *Plugin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	requestID := audit.NewID()
	if r.URL.Path == "/" {
		// Takes its decision slot once the body is in (serveSTS).
		p.serveSTS(w, r, requestID)
		return
	}
	if !p.takeSlot() {
		p.metrics.denied.WithLabelValues("other", stswire.CodeServiceUnavailable).Inc()
		stswire.WriteError(w, errBusy, requestID)
		return
	}
	defer p.releaseSlot()
	switch {
	case r.URL.Path == "/.well-known/jwks.json" && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		a := p.authority()
		if a == nil {
			stswire.WriteError(w, errNoAuthority, requestID)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=300")
		_, _ = w.Write(a.PublicJWKS())
	case p.dev != nil && p.dev.handles(r.URL.Path):
		p.dev.ServeHTTP(w, r)
	default:
		stswire.WriteError(w, errNotFound, requestID)
	}
}
