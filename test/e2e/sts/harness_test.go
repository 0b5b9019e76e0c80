package sts_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/opa-sts/opa-sts/policies"
	"github.com/opa-sts/opa-sts/test/e2e/idp"
	"github.com/opa-sts/opa-sts/test/e2e/opasts"
)

// Fixed client identities of the end-to-end tests.
const (
	boundClient   = "workload-bound"
	unboundClient = "workload-unbound"
	clientSecret  = "e2e-client-secret-0123456789"
	stsAudience   = "sts"
	oidcResource  = "https://sts.opa-sts.test"
)

// env is one STS deployment under test: real IdPs and an opa-sts server.
type env struct {
	hydra   *idp.Hydra
	oidc    *idp.OIDCProvider
	short   *idp.OIDCProvider // issues tokens that expire after one second
	srv     *opasts.Server
	stsURL  string
	dir     string
	keysDir string
	// extraStatements adds that many statements to the role of the
	// replicas started afterwards (grants too large for a session token).
	extraStatements int
}

func startEnv(t *testing.T) *env {
	t.Helper()
	e := &env{dir: t.TempDir()}
	e.hydra = idp.StartHydra(t)
	e.hydra.CreateClient(t, boundClient, clientSecret, []string{stsAudience}, []string{"s3"})
	e.hydra.CreateClient(t, unboundClient, clientSecret, []string{stsAudience}, nil)
	e.oidc = idp.StartOIDCProvider(t, idp.OIDCProviderConfig{Clients: []idp.OIDCClient{
		{ID: boundClient, Secret: clientSecret, Resources: []string{oidcResource}},
		{ID: unboundClient, Secret: clientSecret, Resources: []string{oidcResource}},
	}})
	e.short = idp.StartOIDCProvider(t, idp.OIDCProviderConfig{TokenTTL: time.Second, Clients: []idp.OIDCClient{
		{ID: boundClient, Secret: clientSecret, Resources: []string{oidcResource}},
	}})
	e.keysDir = filepath.Join(e.dir, "keys")
	e.srv, e.stsURL = startSTS(t, e, "replica-1")
	return e
}

// startSTS starts one opa-sts replica; replicas of one env share key files.
func startSTS(t *testing.T, e *env, name string) (*opasts.Server, string) {
	t.Helper()
	return startSTSWithKeys(t, e, name, map[string]any{"dir": e.keysDir, "generate": true})
}

// startSTSWithKeys starts one opa-sts replica with the given plugins.sts_sessions.keys.
func startSTSWithKeys(t *testing.T, e *env, name string, keys map[string]any) (*opasts.Server, string) {
	t.Helper()
	dir := filepath.Join(e.dir, name)
	policyDir := filepath.Join(dir, "policy")
	must(t, os.MkdirAll(policyDir, 0o700))
	must(t, policies.WriteDefault(policyDir))

	bindings := []any{}
	providers := []any{}
	for _, p := range []struct {
		issuer, discovery string
		audience          string
		leeway            int
	}{
		{e.hydra.Issuer(), e.hydra.DiscoveryURL(), stsAudience, 60},
		{e.oidc.Issuer(), e.oidc.DiscoveryURL(), oidcResource, 60},
		{e.short.Issuer(), e.short.DiscoveryURL(), oidcResource, 0},
	} {
		providers = append(providers, map[string]any{"issuer": p.issuer, "discovery_url": p.discovery, "audiences": []string{p.audience}, "leeway_seconds": p.leeway})
		bindings = append(bindings, map[string]any{"role": "readwrite", "issuer": p.issuer, "clients": []string{boundClient}})
	}
	statements := []any{map[string]any{"Effect": "Allow", "Action": []string{"s3:*"}, "Resource": []string{"arn:aws:s3:::e2e/*"}}}
	for i := range e.extraStatements {
		statements = append(statements, map[string]any{"Effect": "Allow", "Action": []string{"s3:GetObject"},
			"Resource": []string{fmt.Sprintf("arn:aws:s3:::e2e-archive-%04d/*", i)}})
	}
	writeJSON(t, filepath.Join(policyDir, "data.json"), map[string]any{"opa_sts": map[string]any{
		"providers": providers,
		"roles":     map[string]any{"readwrite": map[string]any{"statements": statements}},
		"bindings":  bindings,
	}})

	stsAddr := "127.0.0.1:" + strconv.Itoa(opasts.FreePort(t))
	configFile := filepath.Join(dir, "config.json")
	writeJSON(t, configFile, map[string]any{
		"persistence_directory": dir,
		"decision_logs":         map[string]any{"console": true},
		"plugins": map[string]any{
			"sts_sessions": map[string]any{
				"issuer": "https://sts.e2e.opa-sts.test",
				"keys":   keys,
				"store":  map[string]any{"type": "bolt", "path": filepath.Join(dir, "sessions.db")},
			},
			"sts": map[string]any{"addr": stsAddr},
		},
	})
	srv := opasts.Start(t, dir, "-c", configFile, policyDir)
	// The STS listener comes up with the plugin; wait for it.
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get("http://" + stsAddr + "/.well-known/jwks.json")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("STS listener %s not up:\n%s", stsAddr, srv.Logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return srv, "http://" + stsAddr
}

func writeJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	must(t, err)
	must(t, os.WriteFile(path, b, 0o600))
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
