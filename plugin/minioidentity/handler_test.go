package minioidentity

import (
	"context"
	"encoding/json"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/logging"
	"github.com/open-policy-agent/opa/v1/plugins"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/storage/inmem"

	_ "github.com/opa-sts/opa-sts/builtins"
	"github.com/opa-sts/opa-sts/internal/decision"
	"github.com/opa-sts/opa-sts/internal/testkeys"
	"github.com/opa-sts/opa-sts/policies"
)

const testAuth = "Bearer handler-test-token-0123456789"

// newTestPlugin is the plugin over a real manager with the default
// policies and one provider, its handler called directly (no listener).
func newTestPlugin(tb testing.TB) (*Plugin, *testkeys.Key) {
	tb.Helper()
	ctx := context.Background()
	key := testkeys.New(tb, "ES256", "k1")
	store := inmem.NewFromObject(map[string]any{"opa_sts": map[string]any{
		"providers": []any{map[string]any{"issuer": "https://idp.test", "audiences": []any{"minio"},
			"jwks": map[string]any{"keys": []any{key.PublicJWK(tb, true)}}}},
		"bindings": []any{map[string]any{"role": "r", "issuer": "https://idp.test", "clients": []any{"app"}}},
		"roles":    map[string]any{"r": map[string]any{"statements": []any{}}},
	}})
	err := storage.Txn(ctx, store, storage.WriteParams, func(txn storage.Transaction) error {
		return fs.WalkDir(policies.Default, ".", func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			src, err := fs.ReadFile(policies.Default, path)
			if err != nil {
				return err
			}
			return store.UpsertPolicy(ctx, txn, path, src)
		})
	})
	if err != nil {
		tb.Fatal(err)
	}
	m, err := plugins.New([]byte(`{}`), "test", store, plugins.Logger(logging.NewNoOpLogger()))
	if err != nil {
		tb.Fatal(err)
	}
	if err := m.Init(ctx); err != nil {
		tb.Fatal(err)
	}
	tokenFile := filepath.Join(tb.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(strings.TrimPrefix(testAuth, "Bearer ")), 0o600); err != nil {
		tb.Fatal(err)
	}
	cfg, err := parseConfig([]byte(`{"auth_token_file": "` + tokenFile + `"}`))
	if err != nil {
		tb.Fatal(err)
	}
	p := Factory{}.New(m, cfg).(*Plugin)
	p.metrics, _ = newMetrics(nil)
	p.eval.Store(decision.New(ctx, m, cfg.decisionQuery))
	sem := make(chan struct{}, 4)
	p.sem.Store(&sem)
	return p, key
}

func serve(p *Plugin, method, target, auth, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, "http://identity.test/", strings.NewReader(body))
	req.URL.RawQuery = ""
	if i := strings.IndexByte(target, '?'); i >= 0 {
		req.URL.Path, req.URL.RawQuery = target[:i], target[i+1:]
	} else {
		req.URL.Path = target
	}
	if body == "" {
		req.Body, req.ContentLength = http.NoBody, 0
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	w := httptest.NewRecorder()
	p.ServeHTTP(w, req)
	return w
}

// A decision that allows must say who, for how long and with which
// claims in MinIO's bounds; anything else is a 500 and MinIO mints nothing.
func TestMalformedDecisionsAreErrors(t *testing.T) {
	for name, d := range map[string]map[string]any{
		"no user":          {"allow": true, "max_validity_seconds": json.Number("3600")},
		"empty user":       {"allow": true, "user": "", "max_validity_seconds": json.Number("3600")},
		"user not string":  {"allow": true, "user": 7, "max_validity_seconds": json.Number("3600")},
		"no validity":      {"allow": true, "user": "u"},
		"validity too low": {"allow": true, "user": "u", "max_validity_seconds": json.Number("899")},
		"too high":         {"allow": true, "user": "u", "max_validity_seconds": json.Number("31536001")},
		"fractional":       {"allow": true, "user": "u", "max_validity_seconds": json.Number("1000.5")},
		"string validity":  {"allow": true, "user": "u", "max_validity_seconds": "3600"},
		"claims not map":   {"allow": true, "user": "u", "max_validity_seconds": json.Number("3600"), "claims": []any{}},
	} {
		if a := decide(d, nil); a.status != http.StatusInternalServerError || a.result != resultError {
			t.Errorf("%s: %d %s", name, a.status, a.result)
		}
	}
	if a := decide(map[string]any{"allow": "true", "user": "u"}, nil); a.status != http.StatusForbidden {
		t.Errorf("allow as a string: %d", a.status)
	}
	if a := decide(map[string]any{}, nil); a.status != http.StatusForbidden || a.body.(failure).Reason != "access denied" {
		t.Errorf("empty decision: %d %v", a.status, a.body)
	}
	ok := decide(map[string]any{"allow": true, "user": "u", "max_validity_seconds": json.Number("900")}, nil)
	if ok.status != http.StatusOK || ok.body.(success).Claims == nil {
		t.Errorf("minimal allow: %d %v", ok.status, ok.body)
	}
}

func TestHandlerAnswersAValidToken(t *testing.T) {
	p, key := newTestPlugin(t)
	now := time.Now().Unix()
	tok := key.Sign(t, map[string]any{"iss": "https://idp.test", "aud": "minio", "sub": "s", "azp": "app", "iat": now, "exp": now + 3600}, nil)
	w := serve(p, http.MethodPost, Path+"?token="+tok, testAuth, "")
	if w.Code != http.StatusOK || w.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	var got success
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil || got.User != "s" || got.MaxValiditySeconds != 3600 {
		t.Fatalf("%v %+v", err, got)
	}
	if w := serve(p, http.MethodPost, "/other?token="+tok, testAuth, ""); w.Code != http.StatusNotFound {
		t.Errorf("another path: %d", w.Code)
	}
}

// FuzzIdentityRequest: any query, Authorization and body. The answer is
// one of the contract's statuses with a JSON reason, never a panic, and
// never 200 without the configured token and a valid signed token.
func FuzzIdentityRequest(f *testing.F) {
	p, _ := newTestPlugin(f)
	for _, s := range [][3]string{
		{"token=eyJhbGciOiJFUzI1NiJ9.e30.c2ln", testAuth, ""},
		{"token=a&token=b", testAuth, ""},
		{"token=%zz", testAuth, ""},
		{"", "", ""},
		{"token=x", "Bearer ", "{}"},
		{"token=" + strings.Repeat("A", 30000), testAuth, ""},
		{"token=\xff\xfe", testAuth, ""},
		{"token=a.b.c;token=d", testAuth + " ", ""},
	} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, query, auth, body string) {
		w := serve(p, http.MethodPost, Path+"?"+query, auth, body)
		switch w.Code {
		case 400, 401, 403, 503:
		case 200:
			t.Fatalf("200 for query %q auth %q", query, auth)
		default:
			t.Fatalf("status %d", w.Code)
		}
		var f failure
		if err := json.Unmarshal(w.Body.Bytes(), &f); err != nil || f.Reason == "" {
			t.Fatalf("body %q", w.Body)
		}
	})
}
