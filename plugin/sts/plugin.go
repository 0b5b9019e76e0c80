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

	// listener orders Start, Stop and Reconfigure; open sets the fields
	// below under its lock.
	listener *listener.Plugin
	metrics  *metrics

	// serving is what requests read, fixed by open and replaced whole: a
	// request still running when a reconfigure gives up waiting for it
	// keeps the snapshot it started with.
	serving atomic.Pointer[serving]
}

// serving is one configuration's evaluator, authority owner, development
// issuer and request slots.
type serving struct {
	eval *decision.Evaluator
	core *core.Plugin // the session authority's owner
	dev  *devIssuer   // nil unless dev_issuer is enabled
	sem  chan struct{}
}

func (p *Plugin) config() *Config { return p.cfg.Load() }

// authority is the session authority, or nil while there is none (not
// opened yet, or stopped): requests are refused then.
func (sv *serving) authority() *sessions.Authority { return sv.core.Authority() }

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
	next := &serving{sem: make(chan struct{}, cfg.Limits.MaxConcurrentRequests)}
	if next.core = core.Lookup(p.manager); next.core == nil || !next.core.Configured() {
		return nil, listener.Timeouts{}, fmt.Errorf("the STS needs the session authority: configure plugins.%s (issuer, keys, store)", core.Name)
	}
	var err error
	if p.metrics == nil {
		if p.metrics, err = newMetrics(p.manager.PrometheusRegister()); err != nil {
			return nil, listener.Timeouts{}, fmt.Errorf("register metrics: %w", err)
		}
	}
	if cur := p.serving.Load(); cur != nil && cur.eval.Query() == cfg.decisionQuery {
		next.eval = cur.eval
	} else {
		next.eval = decision.New(ctx, p.manager, cfg.decisionQuery)
	}
	if cfg.DevIssuer != nil && cfg.DevIssuer.Enabled {
		if next.dev, err = newDevIssuer(cfg); err != nil {
			return nil, listener.Timeouts{}, err
		}
		p.logger().Warn("DEVELOPMENT token issuer enabled at %s: it hands out tokens to the clients in the configuration. Never enable dev_issuer in production.", next.dev.issuer)
	}
	ln, err := listener.Listen(cfg.Addr, cfg.TLS, cfg.Limits.MaxConnections, p.metrics.connectionsRefused.Inc)
	if err != nil {
		return nil, listener.Timeouts{}, err
	}
	p.serving.Store(next)
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

// takeSlot takes one of the configuration's max_concurrent_requests
// slots, without waiting; release gives it back. ok is false when all are
// taken.
func (sv *serving) takeSlot() (release func(), ok bool) {
	select {
	case sv.sem <- struct{}{}:
		return func() { <-sv.sem }, true
	default:
		return nil, false
	}
}

// current is the snapshot requests read, or nil before the first open.
func (p *Plugin) current() *serving { return p.serving.Load() }

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
	sv := p.current()
	release, ok := sv.takeSlot()
	if !ok {
		p.metrics.denied.WithLabelValues("other", stswire.CodeServiceUnavailable).Inc()
		stswire.WriteError(w, errBusy, requestID)
		return
	}
	defer release()
	switch {
	case r.URL.Path == "/.well-known/jwks.json" && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		a := sv.authority()
		if a == nil {
			stswire.WriteError(w, errNoAuthority, requestID)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=300")
		_, _ = w.Write(a.PublicJWKS())
	case sv.dev != nil && sv.dev.handles(r.URL.Path):
		sv.dev.ServeHTTP(w, r)
	default:
		stswire.WriteError(w, errNotFound, requestID)
	}
}
