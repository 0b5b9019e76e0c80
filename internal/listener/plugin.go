package listener

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sync"

	"github.com/open-policy-agent/opa/v1/plugins"
)

// Plugin runs the listener of an OPA plugin through the plugin's
// lifecycle: Start, Stop and Reconfigure happen one at a time, each sets
// the plugin's status, and a listener that stops on its own sets StateErr.
// Requests never take its lock, so a shutdown waiting for requests in
// flight cannot wait on them.
type Plugin struct {
	name    string
	manager *plugins.Manager
	handler http.Handler
	open    OpenFunc
	closed  func()

	mu     sync.Mutex
	server *Server
}

// OpenFunc prepares what requests need and opens the listener, with the
// timeouts to serve it with. It runs under the Plugin's lock.
type OpenFunc func(ctx context.Context) (net.Listener, Timeouts, error)

// NewPlugin returns the lifecycle of the plugin called name, serving
// handler on what open returns. closed, if not nil, runs after each
// shutdown of the listener (to remove a unix socket, say).
func NewPlugin(name string, m *plugins.Manager, handler http.Handler, open OpenFunc, closed func()) *Plugin {
	m.UpdatePluginStatus(name, &plugins.Status{State: plugins.StateNotReady})
	return &Plugin{name: name, manager: m, handler: handler, open: open, closed: closed}
}

// Start opens and serves the listener.
func (p *Plugin) Start(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.start(ctx); err != nil {
		p.setStatus(plugins.StateErr, err.Error())
		return fmt.Errorf("%s plugin: %w", p.name, err)
	}
	p.setStatus(plugins.StateOK, "")
	return nil
}

// Stop closes the listener, letting requests in flight finish (up to ctx).
func (p *Plugin) Stop(ctx context.Context) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stop(ctx)
	p.setStatus(plugins.StateNotReady, "")
}

// Reconfigure closes the listener (requests in flight finish first), calls
// apply to take the new configuration, and opens the listener again. A
// configuration that does not open leaves the plugin in StateErr, closed.
func (p *Plugin) Reconfigure(ctx context.Context, apply func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stop(ctx)
	apply()
	if err := p.start(ctx); err != nil {
		p.manager.Logger().Error("%s plugin: reconfigure: %v", p.name, err)
		p.setStatus(plugins.StateErr, err.Error())
		return
	}
	p.setStatus(plugins.StateOK, "")
}

// Addr is the address served, or "" while closed (useful with port 0).
func (p *Plugin) Addr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.server == nil {
		return ""
	}
	return p.server.Addr().String()
}

func (p *Plugin) start(ctx context.Context) error {
	ln, timeouts, err := p.open(ctx)
	if err != nil {
		return err
	}
	p.server = Serve(ln, p.handler, timeouts, func(err error) {
		p.manager.Logger().Error("%s plugin: listener stopped: %v", p.name, err)
		p.setStatus(plugins.StateErr, "listener stopped")
	})
	return nil
}

func (p *Plugin) stop(ctx context.Context) {
	if p.server == nil {
		return
	}
	p.server.Shutdown(ctx)
	p.server = nil
	if p.closed != nil {
		p.closed()
	}
}

func (p *Plugin) setStatus(s plugins.State, msg string) {
	p.manager.UpdatePluginStatus(p.name, &plugins.Status{State: s, Message: msg})
}
