package idp

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// DefaultOIDCResource is the resource indicator (and so the "aud") of
// OIDCClients that do not list Resources.
const DefaultOIDCResource = "https://opa-sts.test"

// OIDCProviderConfig configures StartOIDCProvider.
type OIDCProviderConfig struct {
	// Clients are the confidential clients allowed the client_credentials
	// grant (client_secret_basic or client_secret_post).
	Clients []OIDCClient
	// SigningAlg of the access tokens: "RS256" (default), "PS256", "ES256",
	// "ES384" or "EdDSA". Keys are generated in Go, RotateKey uses it too.
	SigningAlg string
	// TokenTTL of the access tokens (default 1h, whole seconds).
	TokenTTL time.Duration
}

// OIDCClient is one client of an OIDCProvider.
type OIDCClient struct {
	ID     string
	Secret string
	// Resources are the resource indicators (absolute URIs, RFC 8707) the
	// client may request; the first one is used when Token gets resource "".
	// Default: [DefaultOIDCResource].
	Resources []string
	// Audience, when set, is the "aud" of every token of this client instead
	// of the requested resource indicator (e.g. "account" like Keycloak).
	Audience string
	// Scopes the client may obtain; others are silently dropped.
	Scopes []string
	// ExtraClaims are merged into every access token payload of the client,
	// last, so they may add (groups, tenant, realm_access...) or override
	// (sub, azp...) claims.
	ExtraClaims map[string]any
}

// OIDCProvider is a running panva/oidc-provider (Node.js) issuing JWT access
// tokens with client_credentials. It can be stopped and started again on the
// same port with the same clients and keys.
//
// Tokens look like:
//
//	header: {"alg":"RS256","typ":"at+jwt","kid":"rs256-<hex>"}
//	claims: {"jti":"...","sub":"<client id>","iat":...,"exp":...,"scope":"read write",
//	         "client_id":"<client id>","iss":"http://127.0.0.1:<port>","aud":"<resource>",
//	         ...ExtraClaims}
//
// The issuer has no trailing slash, "aud" is a string and "scope" a
// space-separated string (absent when no scope was granted).
type OIDCProvider struct {
	cfg       OIDCProviderConfig
	alg       string
	node      string
	serverDir string
	dir       string
	port      int
	issuer    string
	out       *tailBuffer

	mu       sync.Mutex
	keys     []jwk // keys[0] signs, all are published
	proc     *process
	starts   int
	started  bool // ever started successfully (the port is fixed from then on)
	loggedTo map[testing.TB]bool
}

// StartOIDCProvider starts oidc-provider on a free loopback port and waits
// until it answers discovery with its signing key in the JWKS. node must be
// on PATH and test/idp/oidc-provider/node_modules installed (bash
// scripts/build-tools.sh). The process is killed by t.Cleanup.
func StartOIDCProvider(t testing.TB, cfg OIDCProviderConfig) *OIDCProvider {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("idp: node (Node.js >= 20) not found on PATH: %v", err)
	}
	serverDir, err := oidcProviderDir()
	if err != nil {
		t.Fatalf("idp: %v", err)
	}
	if _, err := os.Stat(filepath.Join(serverDir, "node_modules", "oidc-provider", "package.json")); err != nil {
		t.Fatalf("idp: %s/node_modules is missing or incomplete (%v).\n"+
			"Install it from the repository root with:\n\tbash scripts/build-tools.sh oidc-provider", serverDir, err)
	}
	alg := cfg.SigningAlg
	if alg == "" {
		alg = "RS256"
	}
	key, err := generateSigningKey(alg)
	if err != nil {
		t.Fatalf("idp: %v", err)
	}
	for i, c := range cfg.Clients {
		if c.ID == "" || c.Secret == "" {
			t.Fatalf("idp: OIDCProviderConfig.Clients[%d] needs ID and Secret", i)
		}
	}
	p := &OIDCProvider{
		cfg:       cfg,
		alg:       alg,
		node:      node,
		serverDir: serverDir,
		dir:       t.TempDir(),
		out:       &tailBuffer{},
		keys:      []jwk{key},
		loggedTo:  map[testing.TB]bool{t: true},
	}
	logOnFailure(t, "oidc-provider", p.out)
	t.Cleanup(p.Stop) // the process lives as long as the test that created it
	p.Start(t)
	return p
}

// oidcProviderDir finds test/idp/oidc-provider: next to this source file,
// else (binaries built with -trimpath) above the working directory.
func oidcProviderDir() (string, error) {
	rel := filepath.Join("test", "idp", "oidc-provider")
	var tried []string
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		d := filepath.Join(filepath.Dir(file), "..", "..", "idp", "oidc-provider")
		if _, err := os.Stat(filepath.Join(d, "server.mjs")); err == nil {
			return filepath.Clean(d), nil
		}
		tried = append(tried, d)
	}
	if wd, err := os.Getwd(); err == nil {
		for d := wd; ; d = filepath.Dir(d) {
			c := filepath.Join(d, rel)
			if _, err := os.Stat(filepath.Join(c, "server.mjs")); err == nil {
				return c, nil
			}
			if filepath.Dir(d) == d {
				break
			}
		}
		tried = append(tried, wd+" and its parents")
	}
	return "", fmt.Errorf("cannot find %s/server.mjs (looked in %s)", rel, strings.Join(tried, ", "))
}

// Start (re)starts the provider after Stop, on the same port with the same
// clients and keys, and waits until it is ready. It fails the test if the
// provider is already running. The process is still killed by the cleanup of
// the test that called StartOIDCProvider, not of t.
func (p *OIDCProvider) Start(t testing.TB) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.proc != nil {
		t.Fatalf("idp: oidc-provider already running on port %d", p.port)
	}
	if !p.loggedTo[t] { // e.g. Start from a subtest
		p.loggedTo[t] = true
		logOnFailure(t, "oidc-provider", p.out)
	}
	attempts := 1
	if !p.started {
		attempts = 3 // a fresh port may be stolen between picking and binding it
	}
	var lastErr error
	for i := 0; i < attempts; i++ {
		if !p.started {
			p.port = freePort(t)
			p.issuer = fmt.Sprintf("http://127.0.0.1:%d", p.port)
		}
		lastErr = p.startLocked(t)
		if lastErr == nil {
			p.started = true
			return
		}
		if !strings.Contains(p.out.String(), "EADDRINUSE") {
			break
		}
	}
	t.Fatalf("idp: oidc-provider did not start: %v", lastErr)
}

type oidcServerClient struct {
	ClientID     string         `json:"client_id"`
	ClientSecret string         `json:"client_secret"`
	Resources    []string       `json:"resources"`
	Audience     string         `json:"audience,omitempty"`
	Scopes       []string       `json:"scopes"`
	ExtraClaims  map[string]any `json:"extraClaims,omitempty"`
}

type oidcServerConfig struct {
	Host                  string             `json:"host"`
	Port                  int                `json:"port"`
	Issuer                string             `json:"issuer"`
	AccessTokenTTL        int                `json:"accessTokenTTL"`
	AccessTokenSigningAlg string             `json:"accessTokenSigningAlg"`
	JWKS                  map[string][]jwk   `json:"jwks"`
	Clients               []oidcServerClient `json:"clients"`
}

func (p *OIDCProvider) startLocked(t testing.TB) error {
	t.Helper()
	ttl := int(p.cfg.TokenTTL / time.Second)
	if ttl <= 0 {
		ttl = 3600
	}
	sc := oidcServerConfig{
		Host:                  "127.0.0.1",
		Port:                  p.port,
		Issuer:                p.issuer,
		AccessTokenTTL:        ttl,
		AccessTokenSigningAlg: p.keys[0]["alg"].(string),
		JWKS:                  map[string][]jwk{"keys": p.keys},
		Clients:               []oidcServerClient{},
	}
	for _, c := range p.cfg.Clients {
		res := c.Resources
		if len(res) == 0 {
			res = []string{DefaultOIDCResource}
		}
		scopes := c.Scopes
		if scopes == nil {
			scopes = []string{}
		}
		sc.Clients = append(sc.Clients, oidcServerClient{
			ClientID: c.ID, ClientSecret: c.Secret, Resources: res,
			Audience: c.Audience, Scopes: scopes, ExtraClaims: c.ExtraClaims,
		})
	}
	raw, err := json.MarshalIndent(sc, "", "  ")
	if err != nil {
		t.Fatalf("idp: encode oidc-provider config: %v", err)
	}
	p.starts++
	cfgPath := filepath.Join(p.dir, fmt.Sprintf("oidc-provider-%d.json", p.starts))
	if err := os.WriteFile(cfgPath, raw, 0o600); err != nil {
		t.Fatalf("idp: write oidc-provider config: %v", err)
	}
	wantKID := p.keys[0]["kid"].(string)
	p.out.mark("start oidc-provider #%d on %s, signing kid %s", p.starts, p.issuer, wantKID)
	cmd := exec.Command(p.node, filepath.Join(p.serverDir, "server.mjs"), cfgPath)
	cmd.Dir = p.serverDir
	cmd.Env = os.Environ()
	start := time.Now()
	proc, err := startProcess(cmd, p.out)
	if err != nil {
		t.Fatalf("idp: start node: %v", err)
	}
	c := newHTTPClient()
	err = waitReady(proc, startTimeout, func(ctx context.Context) error {
		if err := httpOK(ctx, c, p.DiscoveryURL()); err != nil {
			return err
		}
		keys, err := fetchJWKS(ctx, c, p.JWKSURL())
		if err != nil {
			return err
		}
		if got := kids(keys); len(got) == 0 || got[0] != wantKID {
			return fmt.Errorf("JWKS kids %v, want %s first", got, wantKID)
		}
		return nil
	})
	if err != nil {
		_ = proc.kill()
		return err
	}
	p.proc = proc
	p.out.mark("oidc-provider ready in %s", time.Since(start).Round(time.Millisecond))
	return nil
}

// Issuer is the issuer exactly as in the tokens' "iss":
// "http://127.0.0.1:<port>" (no trailing slash).
func (p *OIDCProvider) Issuer() string { return p.issuer }

// DiscoveryURL is <issuer>/.well-known/openid-configuration.
func (p *OIDCProvider) DiscoveryURL() string {
	return p.issuer + "/.well-known/openid-configuration"
}

// JWKSURL is <issuer>/jwks.
func (p *OIDCProvider) JWKSURL() string { return p.issuer + "/jwks" }

// TokenURL is <issuer>/token.
func (p *OIDCProvider) TokenURL() string { return p.issuer + "/token" }

// Token runs the client_credentials grant and returns the raw JWT access
// token. resource "" selects the client's first resource. Scopes not allowed
// for the client are dropped by the provider.
func (p *OIDCProvider) Token(t testing.TB, clientID, secret, resource string, scopes []string) string {
	t.Helper()
	form := url.Values{}
	if resource != "" {
		form.Set("resource", resource)
	}
	if len(scopes) > 0 {
		form.Set("scope", strings.Join(scopes, " "))
	}
	tok, err := clientCredentials(newHTTPClient(), p.TokenURL(), clientID, secret, form)
	if err != nil {
		t.Fatalf("idp: oidc-provider token for %q: %v", clientID, err)
	}
	return tok
}

// SigningKID is the kid new tokens are signed with.
func (p *OIDCProvider) SigningKID() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.keys[0]["kid"].(string)
}

// PublishedKIDs are the kids the JWKS publishes, signing key first.
func (p *OIDCProvider) PublishedKIDs() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]string, len(p.keys))
	for i, k := range p.keys {
		out[i] = k["kid"].(string)
	}
	return out
}

// RotateKey generates a new key (same SigningAlg) and restarts the provider
// on the same port with the new key first (signing) and all previous keys
// still published after it, so older tokens stay verifiable. It returns the
// new kid. There is a short window (~1 s) during which the IdP is down.
// If the provider was stopped it stays stopped (the key is used at Start).
func (p *OIDCProvider) RotateKey(t testing.TB) string {
	t.Helper()
	key, err := generateSigningKey(p.alg)
	if err != nil {
		t.Fatalf("idp: %v", err)
	}
	kid := key["kid"].(string)
	p.mu.Lock()
	p.keys = append([]jwk{key}, p.keys...)
	p.mu.Unlock()
	p.restart(t)
	p.verifySigningKID(t, kid)
	return kid
}

// RemoveKey unpublishes a key (restarting the provider on the same port). If
// it was the signing key, the next one signs. The last key cannot be removed.
func (p *OIDCProvider) RemoveKey(t testing.TB, kid string) {
	t.Helper()
	p.mu.Lock()
	i := slices.IndexFunc(p.keys, func(k jwk) bool { return k["kid"] == kid })
	switch {
	case i < 0:
		p.mu.Unlock()
		t.Fatalf("idp: oidc-provider has no key %q", kid)
	case len(p.keys) == 1:
		p.mu.Unlock()
		t.Fatalf("idp: cannot remove the only key %q", kid)
	}
	p.keys = slices.Delete(p.keys, i, i+1)
	p.mu.Unlock()
	p.restart(t)
}

// restart stops and starts the provider if it is running.
func (p *OIDCProvider) restart(t testing.TB) {
	t.Helper()
	p.mu.Lock()
	running := p.proc != nil
	p.mu.Unlock()
	if running {
		p.Stop()
		p.Start(t)
	}
}

// verifySigningKID checks the header of a fresh token of the first client.
func (p *OIDCProvider) verifySigningKID(t testing.TB, kid string) {
	t.Helper()
	p.mu.Lock()
	running := p.proc != nil
	p.mu.Unlock()
	if !running || len(p.cfg.Clients) == 0 {
		return
	}
	c := p.cfg.Clients[0]
	tok := p.Token(t, c.ID, c.Secret, "", nil)
	if got, _ := DecodeHeader(tok)["kid"].(string); got != kid {
		t.Fatalf("idp: oidc-provider signs with kid %q, want %q", got, kid)
	}
}

// Stop kills the provider (connections are refused until Start). It is
// idempotent and also runs in t.Cleanup.
func (p *OIDCProvider) Stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.proc == nil {
		return
	}
	if err := p.proc.kill(); err != nil {
		p.out.mark("stop: %v", err)
	} else {
		p.out.mark("oidc-provider stopped")
	}
	p.proc = nil
}
