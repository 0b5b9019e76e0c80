// Package sts is the OPA plugin that serves the Security Token Service:
// AssumeRoleWithClientGrants and AssumeRoleWithWebIdentity on its own
// listener, decided by Rego (data.sts.decision by default), with
// credentials minted and registered through the process's session
// authority (internal/sessions, found with core.Lookup).
package sts

import (
	"context"
	"fmt"
	"net"
	"net/http"
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
	p.listener = listener.NewPlugin(Name, m, p, p.open, nil)
	return p
}

// Plugin is the STS.
type Plugin struct {
	manager *plugins.Manager
	cfg     atomic.Pointer[Config]

	// listener orders Start, Stop and Reconfigure; the fields below are
	// set by open, under its lock, while the listener is closed.
	listener *listener.Plugin

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

// Addr returns the address the STS listens on (useful with port 0).
func (p *Plugin) Addr() string { return p.listener.Addr() }

// Start opens the listener; the session authority must be configured.
func (p *Plugin) Start(ctx context.Context) error { return p.listener.Start(ctx) }

// Stop closes the listener, letting requests in flight finish (up to ctx).
func (p *Plugin) Stop(ctx context.Context) { p.listener.Stop(ctx) }

// Reconfigure applies a new configuration by restarting the listener with
// it; requests in flight finish first.
func (p *Plugin) Reconfigure(ctx context.Context, cfg any) {
	p.listener.Reconfigure(ctx, func() { p.cfg.Store(cfg.(*Config)) })
}

// open prepares the evaluator, the development issuer, the metrics and the
// request slots, and opens the listener.
func (p *Plugin) open(ctx context.Context) (net.Listener, listener.Timeouts, error) {
	cfg := p.config()
	if p.core = core.Lookup(p.manager); p.core == nil || !p.core.Configured() {
		return nil, listener.Timeouts{}, fmt.Errorf("the STS needs the session authority: configure plugins.%s (issuer, keys, store)", core.Name)
	}
	var err error
	if p.metrics == nil {
		if p.metrics, err = newMetrics(p.manager.PrometheusRegister()); err != nil {
			return nil, listener.Timeouts{}, fmt.Errorf("register metrics: %w", err)
		}
	}
	if p.eval == nil || p.eval.Query() != cfg.decisionQuery {
		p.eval = decision.New(ctx, p.manager, cfg.decisionQuery)
	}

	p.dev = nil
	if cfg.DevIssuer != nil && cfg.DevIssuer.Enabled {
		if p.dev, err = newDevIssuer(cfg); err != nil {
			return nil, listener.Timeouts{}, err
		}
		p.logger().Warn("DEVELOPMENT token issuer enabled at %s: it hands out tokens to the clients in the configuration. Never enable dev_issuer in production.", p.dev.issuer)
	}

	p.sem = make(chan struct{}, cfg.Limits.MaxConcurrentRequests)
	ln, err := listener.Listen(cfg.Addr, cfg.TLS, cfg.Limits.MaxConnections, p.metrics.connectionsRefused.Inc)
	if err != nil {
		return nil, listener.Timeouts{}, err
	}
	p.logger().Info("STS listening on %s (decision %s)", ln.Addr(), cfg.decisionQuery)
	sec := func(n int) time.Duration { return time.Duration(n) * time.Second }
	return ln, listener.Timeouts{
		ReadHeader: sec(cfg.Limits.ReadHeaderTimeoutSeconds),
		Read:       sec(cfg.Limits.ReadHeaderTimeoutSeconds + cfg.Limits.BodyReadTimeoutSeconds), // the body has its own, shorter deadline
		Write:      sec(cfg.Limits.WriteTimeoutSeconds),
		Idle:       sec(cfg.Limits.IdleTimeoutSeconds),
	}, nil
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
