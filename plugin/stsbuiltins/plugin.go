// Package stsbuiltins connects the process-wide state of the sts.* built-ins
// to a running OPA server: it exports the JWKS cache's counters through the
// plugin manager's Prometheus registry (served on /metrics) and reports a
// plugin status for /health?plugins. It also tells the built-ins when data
// is committed to the server's store (builtins.DataChanged), which their
// compiled-value caches need because OPA's store changes data in place.
//
// The plugin needs no configuration: EnableHook turns it on in every
// server, so metrics exist whether or not the STS listener is configured.
package stsbuiltins

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/open-policy-agent/opa/v1/config"
	"github.com/open-policy-agent/opa/v1/plugins"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/opa-sts/opa-sts/builtins"
	"github.com/opa-sts/opa-sts/internal/jwks"
)

// Name is the plugin's name under "plugins" in OPA's configuration.
const Name = "sts_builtins"

// Factory creates the plugin. Register it with runtime.RegisterPlugin(Name, Factory{}).
type Factory struct{}

// Validate accepts an empty configuration only.
func (Factory) Validate(_ *plugins.Manager, raw []byte) (any, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return struct{}{}, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("plugins.%s: %w", Name, err)
	}
	for k := range m {
		return nil, fmt.Errorf("plugins.%s: unknown setting %q (this plugin takes no settings)", Name, k)
	}
	return struct{}{}, nil
}

// New returns the plugin.
func (Factory) New(m *plugins.Manager, _ any) plugins.Plugin {
	return &Plugin{manager: m, collector: jwks.NewCollector(builtins.JWKSCache())}
}

// Plugin registers the built-ins' metrics while it runs.
type Plugin struct {
	manager   *plugins.Manager
	collector prometheus.Collector
	trigger   storage.TriggerHandle
}

// Start registers the metrics and the store trigger. Registering the
// metrics again after a reload is not an error: the collector reads the
// same process-wide counters.
func (p *Plugin) Start(ctx context.Context) error {
	if err := p.watchData(ctx); err != nil {
		p.manager.UpdatePluginStatus(Name, &plugins.Status{State: plugins.StateErr, Message: err.Error()})
		return err
	}
	if reg := p.manager.PrometheusRegister(); reg != nil {
		if err := reg.Register(p.collector); err != nil {
			var already prometheus.AlreadyRegisteredError
			if !errors.As(err, &already) {
				p.manager.UpdatePluginStatus(Name, &plugins.Status{State: plugins.StateErr, Message: err.Error()})
				return fmt.Errorf("%s: register metrics: %w", Name, err)
			}
		}
	}
	p.manager.UpdatePluginStatus(Name, &plugins.Status{State: plugins.StateOK})
	return nil
}

// watchData registers a trigger that reports every data commit to the
// built-ins. The epoch moves once at registration too, for anything
// compiled before the trigger existed.
func (p *Plugin) watchData(ctx context.Context) error {
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

// Stop unregisters the metrics and the store trigger.
func (p *Plugin) Stop(ctx context.Context) {
	if p.trigger != nil {
		_ = storage.Txn(ctx, p.manager.Store, storage.WriteParams, func(txn storage.Transaction) error {
			p.trigger.Unregister(ctx, txn)
			return nil
		})
		p.trigger = nil
	}
	if reg := p.manager.PrometheusRegister(); reg != nil {
		reg.Unregister(p.collector)
	}
	p.manager.UpdatePluginStatus(Name, &plugins.Status{State: plugins.StateNotReady})
}

// Reconfigure has nothing to change.
func (p *Plugin) Reconfigure(context.Context, any) {}

// EnableHook is an OPA ConfigHook that switches the plugin on when the
// configuration does not mention it. Register it with runtime.RegisterHook.
type EnableHook struct{}

// OnConfig adds an empty plugins.sts_builtins section when there is none.
func (EnableHook) OnConfig(_ context.Context, c *config.Config) (*config.Config, error) {
	if c.Plugins == nil {
		c.Plugins = map[string]json.RawMessage{}
	}
	if _, ok := c.Plugins[Name]; !ok {
		c.Plugins[Name] = json.RawMessage(`{}`)
	}
	return c, nil
}
