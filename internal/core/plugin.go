// Package core is the plugin every opa-sts server runs (plugins.sts_sessions):
// it owns the process's session authority (internal/sessions: keys,
// issuer, session store, revocations) and connects the sts.* built-ins to
// the server: they verify sessions through that authority, they learn of
// data commits (builtins.DataChanged), and their caches' counters are on
// /metrics. The STS and enforcement plugins find the authority through
// Lookup, as OPA's plugins find each other; they never import one
// another.
//
// EnableHook switches the plugin on in every server. With an empty
// section there is no authority: the built-ins refuse sessions, and the
// STS and enforcement plugins refuse to start.
package core

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/open-policy-agent/opa/v1/config"
	"github.com/open-policy-agent/opa/v1/logging"
	"github.com/open-policy-agent/opa/v1/plugins"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/opa-sts/opa-sts/builtins"
	"github.com/opa-sts/opa-sts/internal/jwks"
	"github.com/opa-sts/opa-sts/internal/promutil"
	"github.com/opa-sts/opa-sts/internal/sessions"
)

// Name is the plugin's name under "plugins" in OPA's configuration.
const Name = "sts_sessions"

// Factory creates the plugin. Register it with runtime.RegisterPlugin(Name, Factory{}).
type Factory struct{}

// Validate parses plugins.sts_sessions.
func (Factory) Validate(m *plugins.Manager, raw []byte) (any, error) {
	dir, err := m.Config.GetPersistenceDirectory()
	if err != nil {
		return nil, fmt.Errorf("plugins.%s: %w", Name, err)
	}
	c, err := sessions.ParseConfig(raw, dir)
	if err != nil {
		return nil, fmt.Errorf("plugins.%s: %w", Name, err)
	}
	return c, nil
}

// New returns the plugin; the authority opens in Start.
func (Factory) New(m *plugins.Manager, cfg any) plugins.Plugin {
	p := &Plugin{manager: m, cfg: cfg.(*sessions.Config)}
	registerRoutes(m)
	m.UpdatePluginStatus(Name, &plugins.Status{State: plugins.StateNotReady})
	return p
}

// Plugin owns the session authority.
type Plugin struct {
	manager *plugins.Manager

	mu        sync.Mutex // orders Start, Stop and Reconfigure
	cfg       *sessions.Config
	trigger   storage.TriggerHandle
	watchStop chan struct{}

	authority atomic.Pointer[sessions.Authority]
	metrics   bool
}

// Lookup returns the core plugin of a manager, or nil (a manager built
// without it, as in some tests).
func Lookup(m *plugins.Manager) *Plugin {
	if p, ok := m.Plugin(Name).(*Plugin); ok {
		return p
	}
	return nil
}

// Authority returns the session authority, or nil while there is none:
// not configured, not opened yet (plugins start in no fixed order), or
// stopped. Callers refuse sessions then. It is safe to call on every
// request.
func (p *Plugin) Authority() *sessions.Authority {
	if p == nil {
		return nil
	}
	return p.authority.Load()
}

// Configured reports whether plugins.sts_sessions configures an authority.
func (p *Plugin) Configured() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cfg.Configured()
}

func (p *Plugin) logger() logging.Logger {
	return p.manager.Logger().WithFields(map[string]any{"plugin": Name})
}

func (p *Plugin) setStatus(s plugins.State, msg string) {
	p.manager.UpdatePluginStatus(Name, &plugins.Status{State: s, Message: msg})
}

// Start opens the authority and connects the built-ins.
func (p *Plugin) Start(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.watchData(ctx); err != nil {
		p.setStatus(plugins.StateErr, err.Error())
		return err
	}
	if err := p.registerMetrics(); err != nil {
		p.setStatus(plugins.StateErr, err.Error())
		return err
	}
	builtins.Serve(p)
	if err := applyCaches(p.cfg); err != nil {
		p.setStatus(plugins.StateErr, err.Error())
		return fmt.Errorf("%s plugin: %w", Name, err)
	}
	if err := p.open(ctx, p.cfg); err != nil {
		p.setStatus(plugins.StateErr, err.Error())
		return fmt.Errorf("%s plugin: %w", Name, err)
	}
	return nil
}

// open opens the authority of cfg and publishes it; the status follows its
// readiness. Called with p.mu held.
func (p *Plugin) open(ctx context.Context, cfg *sessions.Config) error {
	if !cfg.Configured() {
		p.replace(nil)
		p.setStatus(plugins.StateOK, "no session authority configured")
		return nil
	}
	a, err := sessions.Open(ctx, cfg, p.logger())
	if err != nil {
		return err
	}
	p.replace(a)
	p.logger().Info("session authority open: issuer %s, store %s", cfg.Issuer, cfg.Store.Type)
	p.followReadiness(a)
	return nil
}

// replace publishes a (or none) and closes the previous authority.
func (p *Plugin) replace(a *sessions.Authority) {
	p.stopWatch()
	if old := p.authority.Swap(a); old != nil && old != a {
		if err := old.Close(); err != nil {
			p.logger().Error("%v", err)
		}
	}
}

// followReadiness reports NOT_READY until a has loaded the revocations,
// then OK. Called with p.mu held.
func (p *Plugin) followReadiness(a *sessions.Authority) {
	if a.Ready() == nil {
		p.setStatus(plugins.StateOK, "")
		return
	}
	p.setStatus(plugins.StateNotReady, "the revocation list has not been loaded yet: sessions are refused until the session store answers")
	stop := make(chan struct{})
	p.watchStop = stop
	go func() {
		select {
		case <-a.Loaded():
			p.mu.Lock()
			defer p.mu.Unlock()
			if p.authority.Load() == a {
				p.logger().Info("revocations loaded: sessions are verified from now on")
				p.setStatus(plugins.StateOK, "")
			}
		case <-stop:
		}
	}()
}

func (p *Plugin) stopWatch() {
	if p.watchStop != nil {
		close(p.watchStop)
		p.watchStop = nil
	}
}

// watchData registers a store trigger that reports every data commit to
// the built-ins. The epoch moves once at registration too, for anything
// compiled before the trigger existed.
func (p *Plugin) watchData(ctx context.Context) error {
	if p.trigger != nil {
		return nil
	}
	err := storage.Txn(ctx, p.manager.Store, storage.WriteParams, func(txn storage.Transaction) error {
		h, err := p.manager.Store.Register(ctx, txn, storage.TriggerConfig{
			OnCommit: func(_ context.Context, _ storage.Transaction, event storage.TriggerEvent) {
				if event.DataChanged() {
					builtins.DataChanged()
				}
			},
		})
		p.trigger = h
		return err
	})
	if err != nil {
		return fmt.Errorf("%s: register a store trigger: %w", Name, err)
	}
	builtins.DataChanged()
	return nil
}

// registerMetrics registers, once per process registry, the built-ins'
// cache counters and the authority's gauges. A plugin re-created by
// --watch-config finds them registered and keeps them.
func (p *Plugin) registerMetrics() error {
	reg := p.manager.PrometheusRegister()
	if reg == nil || p.metrics {
		return nil
	}
	var err error
	promutil.Register(reg, prometheus.Collector(jwks.NewCollector(builtins.JWKSCache())), &err)
	promutil.Register(reg, prometheus.Collector(newAuthorityCollector(p)), &err)
	if err != nil {
		return fmt.Errorf("%s: register metrics: %w", Name, err)
	}
	p.metrics = true
	return nil
}

// Stop closes the authority: sessions are refused from then on.
func (p *Plugin) Stop(ctx context.Context) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.replace(nil)
	if p.trigger != nil {
		_ = storage.Txn(ctx, p.manager.Store, storage.WriteParams, func(txn storage.Transaction) error {
			p.trigger.Unregister(ctx, txn)
			return nil
		})
		p.trigger = nil
	}
	p.setStatus(plugins.StateNotReady, "stopped")
}

// Reconfigure opens the authority of the new configuration and then
// closes the old one. If the new one cannot be opened, the old one stays
// in service and the status says why. A bolt file admits one opener at a
// time: when both use the same file, the old authority is closed first,
// and opened again if the new one fails.
func (p *Plugin) Reconfigure(ctx context.Context, cfg any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	next := cfg.(*sessions.Config)
	sameFile := p.cfg.Configured() && next.Configured() && p.cfg.Store.Type == "bolt" && next.Store.Type == "bolt" &&
		p.cfg.Store.Path == next.Store.Path
	if sameFile {
		p.replace(nil)
	}
	if err := p.open(ctx, next); err != nil {
		p.logger().Error("%s plugin: reconfigure: %v (the previous session authority stays in service)", Name, err)
		if sameFile {
			if rerr := p.open(ctx, p.cfg); rerr != nil {
				p.logger().Error("%s plugin: the previous session authority could not be reopened: %v", Name, rerr)
			}
		}
		p.setStatus(plugins.StateErr, err.Error())
		return
	}
	p.cfg = next
	if err := applyCaches(next); err != nil {
		p.logger().Error("%s plugin: reconfigure: %v", Name, err)
		p.setStatus(plugins.StateErr, err.Error())
	}
}

// applyCaches sizes the verified-token cache and times the key-set cache
// of the built-ins as cfg asks.
func applyCaches(cfg *sessions.Config) error {
	builtins.SetVerifiedTokenCacheSize(cfg.IdentityTokenCacheSize)
	if err := builtins.SetJWKSTiming(cfg.JWKS.Timing()); err != nil {
		return fmt.Errorf("jwks: %w", err)
	}
	return nil
}

// EnableHook is an OPA ConfigHook that switches the plugin on when the
// configuration does not mention it. Register it with runtime.RegisterHook.
type EnableHook struct{}

// OnConfig adds an empty plugins.sts_sessions section when there is none.
func (EnableHook) OnConfig(_ context.Context, c *config.Config) (*config.Config, error) {
	if c.Plugins == nil {
		c.Plugins = map[string]json.RawMessage{}
	}
	if raw, ok := c.Plugins[Name]; !ok || len(bytes.TrimSpace(raw)) == 0 {
		c.Plugins[Name] = json.RawMessage(`{}`)
	}
	return c, nil
}

// authorityCollector exports the authority's readiness and the size of
// its revocation view.
type authorityCollector struct {
	m            *plugins.Manager
	ready, revoc *prometheus.Desc
}

func newAuthorityCollector(p *Plugin) *authorityCollector {
	return &authorityCollector{
		m:     p.manager,
		ready: prometheus.NewDesc("opa_sts_sessions_ready", "1 when the session authority verifies sessions (keys loaded, revocations loaded), else 0.", nil, nil),
		revoc: prometheus.NewDesc("opa_sts_revocations", "Distinct revocation entries (kind and value) enforced by this process.", nil, nil),
	}
}

func (c *authorityCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.ready; ch <- c.revoc }

func (c *authorityCollector) Collect(ch chan<- prometheus.Metric) {
	a := Lookup(c.m).Authority() // the current plugin's, after a reload too
	ready, n := 0.0, 0.0
	if a != nil {
		if a.Ready() == nil {
			ready = 1
		}
		n = float64(a.RevocationCount())
	}
	ch <- prometheus.MustNewConstMetric(c.ready, prometheus.GaugeValue, ready)
	ch <- prometheus.MustNewConstMetric(c.revoc, prometheus.GaugeValue, n)
}
