package sts_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opa-sts/opa-sts/internal/testkeys"
	"github.com/opa-sts/opa-sts/policies"
	"github.com/opa-sts/opa-sts/test/e2e/opasts"
)

// countingIdP serves a JWKS on loopback and counts how often it is asked;
// down makes it answer 503 (an IdP that flaps).
type countingIdP struct {
	srv     *httptest.Server
	fetches atomic.Int64
	down    atomic.Bool
	jwks    []byte
}

func newCountingIdP(t *testing.T, jwks []byte) *countingIdP {
	i := &countingIdP{jwks: jwks}
	i.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i.fetches.Add(1)
		if i.down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(i.jwks)
	}))
	t.Cleanup(i.srv.Close)
	return i
}

func assumeWith(t *testing.T, stsAddr, token string) (int, string) {
	form := url.Values{"Action": {"AssumeRoleWithWebIdentity"}, "Version": {"2011-06-15"}, "RoleArn": {"arn:aws:iam::000000000000:role/x"},
		"RoleSessionName": {"flood"}, "WebIdentityToken": {token}}
	resp, err := http.PostForm("http://"+stsAddr+"/", form)
	if err != nil {
		t.Errorf("post: %v", err)
		return 0, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// A flood of tokens naming unknown kids (what aws-sdk-go-v2's retries on
// InvalidIdentityToken look like, or an attacker's) costs the IdP at most
// one key-set fetch per refetch interval; an IdP that goes down leaves
// cached keys working; every refusal is counted; and hostile requests of
// every shape get a 4xx, never a 500.
func TestUnknownKidFloodAndAFlappingIdP(t *testing.T) {
	key := testkeys.New(t, "RS256", "k1")
	idp := newCountingIdP(t, testkeys.JWKS(key.PublicJWK(t, true)))
	issuer := idp.srv.URL

	dir := t.TempDir()
	policyDir := filepath.Join(dir, "policy")
	must(t, policies.WriteDefault(policyDir))
	writeJSON(t, filepath.Join(policyDir, "data.json"), map[string]any{"opa_sts": map[string]any{
		"providers": []any{map[string]any{"issuer": issuer, "jwks_url": issuer + "/jwks", "audiences": []string{"sts"}}},
		"roles":     map[string]any{"r": map[string]any{"statements": []any{}}},
		"bindings":  []any{map[string]any{"role": "r", "issuer": issuer, "clients": []string{"app"}}},
	}})
	stsAddr := "127.0.0.1:" + strconv.Itoa(opasts.FreePort(t))
	writeJSON(t, filepath.Join(dir, "config.json"), map[string]any{
		"persistence_directory": dir,
		"plugins": map[string]any{
			"sts_sessions": map[string]any{"issuer": "http://" + stsAddr, "store": map[string]any{"type": "memory"}, "keys": map[string]any{"generate": true}},
			"sts":          map[string]any{"addr": stsAddr},
		},
	})
	srv := opasts.Start(t, dir, "-c", filepath.Join(dir, "config.json"), policyDir)
	waitFor(t, "http://"+stsAddr+"/.well-known/jwks.json")
	claims := func(jti string) map[string]any {
		return map[string]any{"iss": issuer, "sub": "svc", "aud": "sts", "azp": "app", "exp": time.Now().Add(time.Hour).Unix(), "jti": jti}
	}
	if status, body := assumeWith(t, stsAddr, key.Sign(t, claims("ok-1"), nil)); status != 200 {
		t.Fatalf("a valid token: %d %s", status, body)
	}
	before := idp.fetches.Load()

	// 320 tokens from 16 clients, each naming a kid the IdP never had.
	attacker := testkeys.New(t, "RS256", "unused")
	tokens := make([]string, 320)
	for i := range tokens {
		tokens[i] = attacker.Sign(t, claims(fmt.Sprintf("flood-%d", i)), map[string]any{"kid": fmt.Sprintf("kid-%d", i)})
	}
	start := time.Now()
	var wg sync.WaitGroup
	var refused atomic.Int64
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(tokens); i += 16 {
				if status, body := assumeWith(t, stsAddr, tokens[i]); status == 400 && strings.Contains(body, "InvalidIdentityToken") {
					refused.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if refused.Load() != int64(len(tokens)) {
		t.Fatalf("%d of %d unknown-kid tokens refused with InvalidIdentityToken", refused.Load(), len(tokens))
	}
	fetched := idp.fetches.Load() - before
	allowed := 1 + int64(elapsed/(5*time.Second))
	if fetched > allowed {
		t.Fatalf("%d key-set fetches for the flood (%s), at most %d allowed", fetched, elapsed, allowed)
	}
	t.Logf("unknown-kid flood: %d tokens in %s cost the IdP %d fetches", len(tokens), elapsed, fetched)
	if v := metricValue(t, srv.URL, "opa_sts_jwks_refetch_suppressed_total"); v < float64(len(tokens))-float64(allowed) {
		t.Fatalf("refetch_suppressed_total %v", v)
	}

	// The IdP goes down: cached keys keep verifying; it comes back.
	idp.down.Store(true)
	if status, body := assumeWith(t, stsAddr, key.Sign(t, claims("ok-2"), nil)); status != 200 {
		t.Fatalf("a valid token while the IdP is down: %d %s", status, body)
	}
	idp.down.Store(false)
	if status, body := assumeWith(t, stsAddr, key.Sign(t, claims("ok-3"), nil)); status != 200 {
		t.Fatalf("a valid token after the IdP came back: %d %s", status, body)
	}

	// Hostile shapes: each a 4xx with an STS error document, each counted.
	deniedBefore := totalDenied(t, srv.URL)
	big := strings.Repeat("a", 30000)
	form := "application/x-www-form-urlencoded"
	hostile := []struct{ method, ctype, body string }{
		{"PUT", form, "Action=AssumeRoleWithWebIdentity&Version=2011-06-15"},
		{"POST", form, ""},
		{"POST", form, "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&WebIdentityToken=" + big},
		{"POST", form, strings.Repeat("x", 300<<10)},
		{"POST", "application/json", `{"Action": "AssumeRoleWithWebIdentity"}`},
		{"POST", form, "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&WebIdentityToken=%ff%fe.%00.x"},
		{"POST", form, "Action=AssumeRoleWithWebIdentity&Action=AssumeRoleWithClientGrants&Version=2011-06-15"},
		{"POST", form, "Action=Nope&Version=2011-06-15"},
		{"POST", form, "Action=AssumeRoleWithWebIdentity&Version=2012-01-01&WebIdentityToken=a.b.c"},
		{"POST", form, "Action=AssumeRoleWithClientGrants&Version=2011-06-15&Token=a.b.c&DurationSeconds=-5"},
		{"POST", form, "Action=AssumeRoleWithClientGrants&Version=2011-06-15&Token=a.b.c&Policy=%7B%22Statement%22%3A1%7D"},
		{"POST", form, "%zz=%zz"},
	}
	for _, h := range hostile {
		status, body, _ := send(t, h.method, "http://"+stsAddr+"/", h.ctype, h.body)
		if status < 400 || status >= 500 || !strings.Contains(body, "<ErrorResponse") {
			t.Errorf("%s %.60q: %d %.200s", h.method, h.body, status, body)
		}
	}
	if got := totalDenied(t, srv.URL) - deniedBefore; got != float64(len(hostile)) {
		t.Fatalf("%v of %d refusals counted in opa_sts_requests_denied_total", got, len(hostile))
	}
}

// totalDenied sums opa_sts_requests_denied_total over its labels.
func totalDenied(t *testing.T, apiURL string) float64 {
	t.Helper()
	resp, err := http.Get(apiURL + "/metrics")
	must(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	sum := 0.0
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "opa_sts_requests_denied_total{") {
			f := strings.Fields(line)
			v, _ := strconv.ParseFloat(f[len(f)-1], 64)
			sum += v
		}
	}
	return sum
}
