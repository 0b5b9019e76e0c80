package plugins_test

import (
	"context"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/plugins"

	"github.com/opa-sts/opa-sts/builtins"
	"github.com/opa-sts/opa-sts/internal/core"
	"github.com/opa-sts/opa-sts/internal/jwks"
)

// plugins.sts_sessions.jwks times the built-ins' key-set cache when the
// server starts and again on reconfigure, with or without an authority.
func TestJWKSTimingFromConfig(t *testing.T) {
	t.Cleanup(func() { must(t, builtins.SetJWKSTiming(jwks.DefaultTiming())) })
	h := newManager(t, t.TempDir(), `{"plugins": {"`+core.Name+`": {"jwks": {"max_stale_seconds": 600, "fetch_timeout_seconds": 2}}}}`, nil)
	must(t, h.m.Start(context.Background()))
	got := builtins.JWKSCache().Timing()
	if got.MaxStale != 10*time.Minute || got.FetchTimeout != 2*time.Second || got.DefaultTTL != jwks.DefaultTiming().DefaultTTL {
		t.Fatalf("timing after start: %+v", got)
	}

	cfg, err := core.Factory{}.Validate(h.m, []byte(`{"jwks": {"max_stale_seconds": 0}}`))
	must(t, err)
	core.Lookup(h.m).Reconfigure(context.Background(), cfg)
	want := jwks.DefaultTiming()
	want.MaxStale = 0
	if got := builtins.JWKSCache().Timing(); got != want {
		t.Fatalf("timing after reconfigure: %+v, want %+v", got, want)
	}
	if h.status(core.Name) != plugins.StateOK {
		t.Fatalf("status: %v", h.m.PluginStatus())
	}

	// A bad section never reaches the cache: OPA refuses it before.
	if _, err := (core.Factory{}).Validate(h.m, []byte(`{"jwks": {"unknown_kid_refetch_seconds": 0}}`)); err == nil {
		t.Fatal("a zero unknown-kid refetch interval was accepted")
	}
}
