package listener

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/logging"
	"github.com/open-policy-agent/opa/v1/plugins"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
)

// lifecycleFixture is a Plugin on a real plugins.Manager whose open can be
// made to fail, and whose listener can be taken away from under it.
type lifecycleFixture struct {
	m       *plugins.Manager
	p       *Plugin
	failing error        // what open returns, if not nil
	ln      net.Listener // the last listener opened
	closed  int          // calls of the closed hook
	opened  int
}

func newLifecycleFixture(t *testing.T) *lifecycleFixture {
	t.Helper()
	m, err := plugins.New(nil, "test", inmem.New(), plugins.Logger(logging.NewNoOpLogger()))
	if err != nil {
		t.Fatal(err)
	}
	f := &lifecycleFixture{m: m}
	handler := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "served") })
	f.p = NewPlugin("demo", m, handler, func(context.Context) (net.Listener, Timeouts, error) {
		f.opened++
		if f.failing != nil {
			return nil, Timeouts{}, f.failing
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, Timeouts{}, err
		}
		f.ln = ln
		return ln, Timeouts{ReadHeader: time.Second}, nil
	}, func() { f.closed++ })
	t.Cleanup(func() { f.p.Stop(context.Background()) })
	return f
}

func (f *lifecycleFixture) status(t *testing.T) *plugins.Status {
	t.Helper()
	s := f.m.PluginStatus()["demo"]
	if s == nil {
		t.Fatal("no status for the plugin")
	}
	return s
}

func (f *lifecycleFixture) get(t *testing.T) string {
	t.Helper()
	addr := f.p.Addr()
	if addr == "" {
		t.Fatal("not listening")
	}
	resp, err := http.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func TestPluginLifecycle(t *testing.T) {
	f := newLifecycleFixture(t)
	if s := f.status(t); s.State != plugins.StateNotReady {
		t.Fatalf("before Start: %v", s)
	}
	if f.p.Addr() != "" {
		t.Fatal("listening before Start")
	}

	ctx := context.Background()
	if err := f.p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if s := f.status(t); s.State != plugins.StateOK {
		t.Fatalf("after Start: %v", s)
	}
	if got := f.get(t); got != "served" {
		t.Fatalf("served %q", got)
	}
	first := f.p.Addr()

	// Reconfigure closes the old listener before apply, then opens anew.
	applied := false
	f.p.Reconfigure(ctx, func() {
		applied = true
		if f.closed != 1 {
			t.Errorf("apply ran before the old listener closed (closed %d)", f.closed)
		}
		if _, err := net.Dial("tcp", first); err == nil {
			t.Errorf("the old listener still accepts while apply runs")
		}
	})
	if !applied || f.opened != 2 {
		t.Fatalf("applied %v, opened %d", applied, f.opened)
	}
	if s := f.status(t); s.State != plugins.StateOK {
		t.Fatalf("after Reconfigure: %v", s)
	}
	if got := f.get(t); got != "served" {
		t.Fatalf("served %q after Reconfigure", got)
	}

	f.p.Stop(ctx)
	if s := f.status(t); s.State != plugins.StateNotReady {
		t.Fatalf("after Stop: %v", s)
	}
	if f.p.Addr() != "" || f.closed != 2 {
		t.Fatalf("after Stop: addr %q, closed %d", f.p.Addr(), f.closed)
	}
	// A second Stop has nothing to close.
	f.p.Stop(ctx)
	if f.closed != 2 {
		t.Fatalf("closed ran for a listener already closed: %d", f.closed)
	}
}

// A plugin whose listener cannot open fails closed: Start returns the
// reason with the plugin's name, the status is StateErr with the reason,
// and a Reconfigure that cannot open leaves nothing listening.
func TestPluginFailsClosed(t *testing.T) {
	f := newLifecycleFixture(t)
	ctx := context.Background()
	f.failing = errors.New("address in use")
	err := f.p.Start(ctx)
	if err == nil || !strings.Contains(err.Error(), "demo plugin: address in use") {
		t.Fatalf("Start: %v", err)
	}
	if s := f.status(t); s.State != plugins.StateErr || s.Message != "address in use" {
		t.Fatalf("after a failed Start: %v", s)
	}

	f.failing = nil
	f.p.Reconfigure(ctx, func() {})
	if s := f.status(t); s.State != plugins.StateOK {
		t.Fatalf("after a good Reconfigure: %v", s)
	}
	f.failing = errors.New("bad certificate")
	f.p.Reconfigure(ctx, func() {})
	if s := f.status(t); s.State != plugins.StateErr || s.Message != "bad certificate" {
		t.Fatalf("after a failed Reconfigure: %v", s)
	}
	if f.p.Addr() != "" {
		t.Fatal("still listening after a failed Reconfigure")
	}
}

// A listener that stops on its own (not by Stop) turns the status to
// StateErr, so that health checks see it.
func TestPluginListenerLost(t *testing.T) {
	f := newLifecycleFixture(t)
	if err := f.p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.ln.Close()
	deadline := time.Now().Add(10 * time.Second)
	for f.status(t).State != plugins.StateErr {
		if time.Now().After(deadline) {
			t.Fatalf("status after the listener was lost: %v", f.status(t))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if s := f.status(t); s.Message != "listener stopped" {
		t.Fatalf("status message %q", s.Message)
	}
}
