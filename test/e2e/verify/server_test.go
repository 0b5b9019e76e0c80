package verify_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opa-sts/opa-sts/test/e2e/idp"
	"github.com/opa-sts/opa-sts/test/e2e/opasts"
)

const serverPolicy = `package verify

result := sts.verify_token(input.token, data.provider)

claims := result.claims if result.valid
`

func writePolicy(t *testing.T, h *idp.Hydra) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "verify.rego"), []byte(serverPolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(map[string]any{"provider": map[string]any{
		"issuer": h.Issuer(), "discovery_url": h.DiscoveryURL(), "audiences": []string{"sts"},
	}})
	if err := os.WriteFile(filepath.Join(dir, "data.json"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestServerVerifiesRealTokens runs the opa-sts binary as an OPA server and
// checks the built-in, its metrics and the plugin's health.
func TestServerVerifiesRealTokens(t *testing.T) {
	h := idp.StartHydra(t)
	const client, secret = "server-client", "server-client-secret-0123456789"
	h.CreateClient(t, client, secret, []string{"sts"}, nil)
	dir := writePolicy(t, h)
	srv := opasts.Start(t, dir, dir)

	tok := h.Token(t, client, secret, []string{"sts"}, nil)
	res := postData(t, srv.URL+"/v1/data/verify/result", map[string]any{"token": tok})
	if res["valid"] != true {
		t.Fatalf("server: token not valid: %v", res)
	}
	bad := postData(t, srv.URL+"/v1/data/verify/result", map[string]any{"token": tok[:len(tok)-4] + "AAAA"})
	if bad["valid"] != false || bad["error"].(map[string]any)["code"] != "bad_signature" {
		t.Fatalf("server: tampered token: %v", bad)
	}

	metrics := get(t, srv.URL+"/metrics", http.StatusOK)
	for name, min := range map[string]float64{
		"opa_sts_jwks_fetches_total":      1,
		"opa_sts_jwks_cache_hits_total":   1,
		"opa_sts_jwks_cache_misses_total": 1,
		"opa_sts_jwks_fetch_errors_total": 0,
	} {
		if v := metricValue(t, metrics, name); v < min {
			t.Errorf("%s = %v, want >= %v", name, v, min)
		}
	}
	if strings.Contains(metrics, tok) || strings.Contains(srv.Logs(), tok) {
		t.Fatal("the token appears in metrics or logs")
	}
	get(t, srv.URL+"/health?plugins", http.StatusOK)
}

// TestEvalCommand uses the built-in from `opa-sts eval` (library
// defaults, no server caches) against the real IdP.
func TestEvalCommand(t *testing.T) {
	h := idp.StartHydra(t)
	const client, secret = "eval-client", "eval-client-secret-0123456789"
	h.CreateClient(t, client, secret, []string{"sts"}, nil)
	dir := writePolicy(t, h)
	input, _ := json.Marshal(map[string]any{"token": h.Token(t, client, secret, []string{"sts"}, nil)})
	if err := os.WriteFile(filepath.Join(dir, "input.json"), input, 0o600); err != nil {
		t.Fatal(err)
	}
	r := opasts.Run(t, dir, "eval", "--fail", "--format", "raw", "-d", "verify.rego", "-d", "data.json", "-i", "input.json", "data.verify.claims.client_id")
	if r.Exit != 0 || strings.TrimSpace(r.Stdout) != client {
		t.Fatalf("eval: exit %d stdout %q stderr %q", r.Exit, r.Stdout, r.Stderr)
	}
	// An undefined result with --fail keeps OPA's exit code 1.
	_ = os.WriteFile(filepath.Join(dir, "input.json"), []byte(`{"token": "not-a-token"}`), 0o600)
	r = opasts.Run(t, dir, "eval", "--fail", "-d", "verify.rego", "-d", "data.json", "-i", "input.json", "data.verify.claims")
	if r.Exit != 1 {
		t.Fatalf("eval --fail on undefined: exit %d, want 1", r.Exit)
	}
}

func postData(t *testing.T, url string, input map[string]any) map[string]any {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"input": input})
	resp, err := http.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Result map[string]any `json:"result"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: status %d, %v", url, resp.StatusCode, err)
	}
	return out.Result
}

func get(t *testing.T, url string, want int) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("GET %s: status %d, want %d: %s", url, resp.StatusCode, want, b)
	}
	return string(b)
}

func metricValue(t *testing.T, text, name string) float64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` ([0-9.e+]+)$`).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("metric %s not exported", name)
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

// TestServerWithoutStaleKeys: with plugins.sts_sessions.jwks.max_stale_seconds
// 0, a server refuses every token (idp_unreachable) once the key set has
// expired and the IdP cannot be reached, a token it verified before
// included; a server with the defaults rides out the same outage on the
// keys it has. Both verify again when the IdP is back.
func TestServerWithoutStaleKeys(t *testing.T) {
	const client, secret = "stale-client", "stale-client-secret-0123456789"
	p := idp.StartOIDCProvider(t, idp.OIDCProviderConfig{
		SigningAlg: "ES256",
		Clients:    []idp.OIDCClient{{ID: client, Secret: secret, Resources: []string{"https://sts.opa-sts.test"}}},
	})
	dir := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(dir, "verify.rego"), []byte(serverPolicy), 0o600))
	data, _ := json.Marshal(map[string]any{"provider": map[string]any{
		"issuer": p.Issuer(), "discovery_url": p.DiscoveryURL(), "audiences": []string{"https://sts.opa-sts.test"},
	}})
	must(os.WriteFile(filepath.Join(dir, "data.json"), data, 0o600))
	strictCfg := filepath.Join(t.TempDir(), "strict.yaml")
	must(os.WriteFile(strictCfg, []byte(`plugins:
  sts_sessions:
    jwks:
      min_ttl_seconds: 1
      default_ttl_seconds: 1
      max_ttl_seconds: 1
      failed_fetch_retry_seconds: 1
      max_stale_seconds: 0
`), 0o600))
	strict := opasts.Start(t, dir, "-c", strictCfg, dir)
	lenient := opasts.Start(t, dir, dir)

	verifyAt := func(srv *opasts.Server, tok string) map[string]any {
		return postData(t, srv.URL+"/v1/data/verify/result", map[string]any{"token": tok})
	}
	tok := p.Token(t, client, secret, "https://sts.opa-sts.test", nil)
	for _, srv := range []*opasts.Server{strict, lenient} {
		if r := verifyAt(srv, tok); r["valid"] != true {
			t.Fatalf("%s with the IdP up: %v", srv, r)
		}
	}

	p.Stop()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r := verifyAt(strict, tok)
		if r["valid"] == false {
			if code := r["error"].(map[string]any)["code"]; code != "idp_unreachable" {
				t.Fatalf("strict server with the IdP down: %v", r)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the strict server still verifies with an expired key set while the IdP is down")
		}
		time.Sleep(200 * time.Millisecond)
	}
	if r := verifyAt(lenient, tok); r["valid"] != true {
		t.Fatalf("the server with the default stale window refused during the outage: %v", r)
	}
	if v := metricValue(t, get(t, strict.URL+"/metrics", http.StatusOK), "opa_sts_jwks_stale_served_total"); v != 0 {
		t.Fatalf("the strict server served a stale key set %v times", v)
	}

	p.Start(t)
	deadline = time.Now().Add(30 * time.Second)
	for verifyAt(strict, tok)["valid"] != true {
		if time.Now().After(deadline) {
			t.Fatal("the strict server did not verify again after the IdP came back")
		}
		time.Sleep(200 * time.Millisecond)
	}
}
