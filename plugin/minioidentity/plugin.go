// Package minioidentity is the OPA plugin that serves MinIO's identity
// plugin contract (MINIO_IDENTITY_PLUGIN_URL, the server side of MinIO's
// AssumeRoleWithCustomToken) on its own listener: MinIO posts the client's
// token, Rego decides who its bearer is (data.sts.minio.identity by
// default: sts.verify_token and the same bindings as issuance), and the
// answer is MinIO's {"user", "maxValiditySeconds", "claims"} or 403
// {"reason"}.
//
// It has its own listener rather than a route on OPA's API because MinIO
// puts the token in the query string, and OPA's server logs request
// parameters at debug level and in traces.
package minioidentity

import (
	"context"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	"github.com/open-policy-agent/opa/v1/logging"
	"github.com/open-policy-agent/opa/v1/plugins"

	"github.com/opa-sts/opa-sts/internal/decision"
	"github.com/opa-sts/opa-sts/internal/listener"
)

// Factory creates the plugin. Register it with runtime.RegisterPlugin(Name, Factory{}).
type Factory struct{}

// Validate parses and checks the configuration; the auth token file is
// read here, so a missing or empty one stops OPA from starting.
func (Factory) Validate(_ *plugins.Manager, raw []byte) (any, error) { return parseConfig(raw) }

// New returns the plugin; it does nothing until Start.
func (Factory) New(m *plugins.Manager, cfg any) plugins.Plugin {
	p := &Plugin{manager: m}
	p.cfg.Store(cfg.(*Config))
	p.listener = listener.NewPlugin(Name, m, p, p.open, nil)
	return p
}

// Plugin serves MinIO's identity plugin contract.
type Plugin struct {
	manager *plugins.Manager
	cfg     atomic.Pointer[Config]

	// listener orders Start, Stop and Reconfigure; the fields below are
	// set by open, under its lock.
	listener *listener.Plugin

	eval    atomic.Pointer[decision.Evaluator]
	sem     atomic.Pointer[chan struct{}]
	metrics *metrics
}

func (p *Plugin) config() *Config { return p.cfg.Load() }

func (p *Plugin) logger() logging.Logger {
	return p.manager.Logger().WithFields(map[string]any{"plugin": Name})
}

// Addr returns the address the plugin listens on (useful with port 0).
func (p *Plugin) Addr() string { return p.listener.Addr() }

// Start opens the listener.
func (p *Plugin) Start(ctx context.Context) error { return p.listener.Start(ctx) }

// Stop closes the listener, letting requests in flight finish (up to ctx).
func (p *Plugin) Stop(ctx context.Context) { p.listener.Stop(ctx) }

// Reconfigure restarts the listener with the new configuration (a new
// auth token takes effect for the next request).
func (p *Plugin) Reconfigure(ctx context.Context, cfg any) {
	p.listener.Reconfigure(ctx, func() { p.cfg.Store(cfg.(*Config)) })
}

// open prepares the evaluator, the metrics and the request slots, and
// opens the listener.
func (p *Plugin) open(ctx context.Context) (net.Listener, listener.Timeouts, error) {
	cfg := p.config()
	var err error
	if p.metrics == nil {
		if p.metrics, err = newMetrics(p.manager.PrometheusRegister()); err != nil {
			return nil, listener.Timeouts{}, fmt.Errorf("register metrics: %w", err)
		}
	}
	if e := p.eval.Load(); e == nil || e.Query() != cfg.decisionQuery {
		p.eval.Store(decision.New(ctx, p.manager, cfg.decisionQuery))
	}
	sem := make(chan struct{}, cfg.Limits.MaxConcurrentRequests)
	p.sem.Store(&sem)
	ln, err := listener.Listen(cfg.Addr, cfg.TLS, cfg.Limits.MaxConnections, p.metrics.connectionsRefused.Inc)
	if err != nil {
		return nil, listener.Timeouts{}, err
	}
	p.logger().Info("MinIO identity plugin listening: MINIO_IDENTITY_PLUGIN_URL=%s (decision %s)", cfg.URL(), cfg.decisionQuery)
	sec := func(n int) time.Duration { return time.Duration(n) * time.Second }
	return ln, listener.Timeouts{
		ReadHeader: sec(cfg.Limits.ReadHeaderTimeoutSeconds),
		Read:       sec(cfg.Limits.ReadHeaderTimeoutSeconds + cfg.Limits.RequestTimeoutSeconds),
		Write:      sec(cfg.Limits.WriteTimeoutSeconds),
		Idle:       sec(cfg.Limits.IdleTimeoutSeconds),
	}, nil
}
