package credserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opa-sts/opa-sts/internal/awscreds"
)

const (
	authToken = "endpoint-auth-token-0123456789"
	secretKey = "SECRETsecretSECRETsecret"
	session   = "SESSIONtokenSESSIONtoken"
)

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// syncBuffer collects log output from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func creds(id string, life time.Duration) awscreds.Credentials {
	now := time.Now()
	return awscreds.Credentials{AccessKeyID: id, SecretAccessKey: secretKey, SessionToken: session, Obtained: now, Expiration: now.Add(life)}
}

// fetcher hands out numbered credentials, or fails.
type fetcher struct {
	n     atomic.Int32
	fail  atomic.Bool
	life  time.Duration
	delay time.Duration
}

func (f *fetcher) fetch(context.Context) (awscreds.Credentials, error) {
	time.Sleep(f.delay)
	n := f.n.Add(1)
	if f.fail.Load() {
		return awscreds.Credentials{}, errors.New("STS http://sts: AccessDenied: no")
	}
	return creds("AK"+string(rune('0'+n)), f.life), nil
}

func newHandler(t *testing.T, f *fetcher) (*Handler, *syncBuffer, string) {
	t.Helper()
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	file := filepath.Join(t.TempDir(), "token")
	must(t, os.WriteFile(file, []byte(authToken+"\n"), 0o600))
	h, err := NewHandler(file, NewKeeper(f.fetch, awscreds.Timing{}, log), log)
	must(t, err)
	return h, logs, file
}

func call(h http.Handler, method, path string, header ...string) (int, map[string]string) {
	req := httptest.NewRequest(method, path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var body map[string]string
	_ = json.Unmarshal(rec.Body.Bytes(), &body)
	if rec.Header().Get("Cache-Control") != "no-store" || rec.Header().Get("Content-Type") != "application/json" {
		body["_headers"] = "wrong"
	}
	return rec.Code, body
}

func TestRefusesRequestsWithoutTheToken(t *testing.T) {
	f := &fetcher{life: time.Hour}
	h, logs, _ := newHandler(t, f)
	for _, c := range []struct {
		name   string
		header []string
		want   int
		code   string
	}{
		{"no header", nil, 401, "Unauthorized"},
		{"empty header", []string{"Authorization", ""}, 401, "Unauthorized"},
		{"wrong token", []string{"Authorization", "wrong-token-0123456789"}, 403, "Forbidden"},
		{"a prefix of the token", []string{"Authorization", authToken[:10]}, 403, "Forbidden"},
		{"the token and more", []string{"Authorization", authToken + "x"}, 403, "Forbidden"},
		{"as a bearer token", []string{"Authorization", "Bearer " + authToken}, 403, "Forbidden"},
		{"twice", []string{"Authorization", authToken, "Authorization", authToken}, 403, "Forbidden"},
		{"in another header", []string{"X-Auth", authToken}, 401, "Unauthorized"},
	} {
		for _, path := range []string{"/", "/other"} {
			status, body := call(h, http.MethodGet, path, c.header...)
			if status != c.want || body["code"] != c.code || body["message"] == "" || body["_headers"] != "" {
				t.Errorf("%s %s: %d %v, want %d %s", c.name, path, status, body, c.want, c.code)
			}
			if strings.Contains(body["message"], authToken[:10]) {
				t.Errorf("%s: the answer shows the token", c.name)
			}
		}
	}
	if missing, wrong := h.Refusals(); missing != 6 || wrong != 10 {
		t.Fatalf("refusals: %d missing, %d wrong", missing, wrong)
	}
	if f.n.Load() != 0 {
		t.Fatal("a refused request made a fetch")
	}
	if strings.Contains(logs.String(), authToken[:10]) || strings.Contains(logs.String(), "wrong-token") {
		t.Fatalf("the log shows a token:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "refused a credentials request") || !strings.Contains(logs.String(), "refusals_wrong_token=10") {
		t.Fatalf("refusals are not logged:\n%s", logs.String())
	}
}

func TestServesCredentials(t *testing.T) {
	f := &fetcher{life: time.Hour}
	h, logs, file := newHandler(t, f)
	status, body := call(h, http.MethodGet, "/", "Authorization", authToken)
	if status != 200 || body["AccessKeyId"] != "AK1" || body["SecretAccessKey"] != secretKey || body["Token"] != session || body["_headers"] != "" {
		t.Fatalf("%d %v", status, body)
	}
	exp, err := time.Parse(time.RFC3339, body["Expiration"])
	if err != nil || !exp.After(time.Now()) || len(body) != 4 {
		t.Fatalf("Expiration %q: %v (%v)", body["Expiration"], err, body)
	}
	// Cached: no second fetch.
	if _, body := call(h, http.MethodGet, "/", "Authorization", authToken); body["AccessKeyId"] != "AK1" || f.n.Load() != 1 {
		t.Fatalf("second call: %v, %d fetches", body, f.n.Load())
	}
	if status, _ := call(h, http.MethodPost, "/", "Authorization", authToken); status != 405 {
		t.Fatalf("POST: %d", status)
	}
	if status, _ := call(h, http.MethodGet, "/v2/credentials", "Authorization", authToken); status != 404 {
		t.Fatalf("another path: %d", status)
	}
	if strings.Contains(logs.String(), secretKey) || strings.Contains(logs.String(), session) {
		t.Fatalf("the log shows a secret:\n%s", logs.String())
	}
	// The token file is read at every request: rotated in place, the new
	// token works and the old one no longer does.
	must(t, os.WriteFile(file, []byte("rotated-token-0123456789"), 0o600))
	if status, _ := call(h, http.MethodGet, "/", "Authorization", authToken); status != 403 {
		t.Fatalf("the old token after rotation: %d", status)
	}
	if status, _ := call(h, http.MethodGet, "/", "Authorization", "rotated-token-0123456789"); status != 200 {
		t.Fatalf("the new token: %d", status)
	}
	// Without a readable token file nobody gets in.
	must(t, os.Remove(file))
	if status, body := call(h, http.MethodGet, "/", "Authorization", "rotated-token-0123456789"); status != 503 || body["code"] != "ServiceUnavailable" {
		t.Fatalf("without the token file: %d %v", status, body)
	}
}

func TestNewHandlerRefusesWeakTokens(t *testing.T) {
	dir := t.TempDir()
	k := NewKeeper((&fetcher{}).fetch, awscreds.Timing{}, slog.New(slog.DiscardHandler))
	for name, content := range map[string]string{"short": "short-token", "space": "token with spaces inside", "empty": "\n"} {
		p := filepath.Join(dir, name)
		must(t, os.WriteFile(p, []byte(content), 0o600))
		if _, err := NewHandler(p, k, slog.New(slog.DiscardHandler)); err == nil {
			t.Errorf("%s token accepted", name)
		}
	}
	if _, err := NewHandler("", k, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "--auth-token-file is required") {
		t.Errorf("no token file: %v", err)
	}
	if _, err := NewHandler(filepath.Join(dir, "missing"), k, slog.New(slog.DiscardHandler)); err == nil {
		t.Error("a missing token file accepted")
	}
}

// No stale credentials: when renewal fails and what is held has (almost)
// expired, the answer is 503, naming the failure.
func TestUnavailableRatherThanStale(t *testing.T) {
	f := &fetcher{life: time.Hour}
	f.fail.Store(true)
	h, _, _ := newHandler(t, f)
	status, body := call(h, http.MethodGet, "/", "Authorization", authToken)
	if status != 503 || body["code"] != "ServiceUnavailable" || !strings.Contains(body["message"], "AccessDenied") {
		t.Fatalf("%d %v", status, body)
	}
	// Within the retry delay no new fetch is made.
	call(h, http.MethodGet, "/", "Authorization", authToken)
	if n := f.n.Load(); n != 1 {
		t.Fatalf("%d fetches within the retry delay", n)
	}

	k := h.keeper
	k.mu.Lock()
	k.cur, k.have, k.lastErr = creds("NEARLY", time.Hour), true, nil
	k.cur.Obtained = time.Now().Add(-59*time.Minute - 58*time.Second)
	k.cur.Expiration = time.Now().Add(2 * time.Second)
	k.mu.Unlock()
	if status, body := call(h, http.MethodGet, "/", "Authorization", authToken); status != 503 {
		t.Fatalf("credentials about to expire were served: %d %v", status, body)
	}
	// Still usable ones are served while renewal fails.
	k.mu.Lock()
	k.cur.Expiration, k.lastErr = time.Now().Add(10*time.Minute), nil
	k.mu.Unlock()
	if status, body := call(h, http.MethodGet, "/", "Authorization", authToken); status != 200 || body["AccessKeyId"] != "NEARLY" {
		t.Fatalf("usable credentials during an outage: %d %v", status, body)
	}
}

func TestKeeperFetchesOnceForConcurrentRequests(t *testing.T) {
	f := &fetcher{life: time.Hour, delay: 200 * time.Millisecond}
	k := NewKeeper(f.fetch, awscreds.Timing{}, slog.New(slog.DiscardHandler))
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if c, err := k.Get(context.Background()); err != nil || c.AccessKeyID != "AK1" {
				t.Errorf("%v %v", c, err)
			}
		}()
	}
	wg.Wait()
	if n := f.n.Load(); n != 1 {
		t.Fatalf("%d fetches", n)
	}
	// A request that gives up does not cancel the fetch others wait for.
	k2 := NewKeeper(f.fetch, awscreds.Timing{}, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := k2.Get(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("a cancelled request: %v", err)
	}
	if c, err := k2.Get(context.Background()); err != nil || c.AccessKeyID == "" {
		t.Fatalf("after a cancelled request: %v %v", c, err)
	}
}

// Run renews in the background before expiry, without any request.
func TestKeeperRenewsInTheBackground(t *testing.T) {
	f := &fetcher{life: 3 * time.Second}
	k := NewKeeper(f.fetch, awscreds.Timing{}, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go k.Run(ctx)
	deadline := time.Now().Add(20 * time.Second)
	for f.n.Load() < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("%d fetches", f.n.Load())
		}
		time.Sleep(50 * time.Millisecond)
	}
	k.mu.Lock()
	cur := k.cur
	k.mu.Unlock()
	if !cur.Expiration.After(time.Now()) {
		t.Fatal("the held credentials expired")
	}
	cancel()
}

func TestListenOnLoopbackOnly(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "[::]:0", "10.0.0.1:0", "example.com:0", "169.254.170.2:0", "no-port"} {
		if ln, err := Listen(addr); err == nil {
			ln.Close()
			t.Errorf("%s accepted", addr)
		}
	}
	for _, addr := range []string{"127.0.0.1:0", "localhost:0"} {
		ln, err := Listen(addr)
		if err != nil {
			t.Errorf("%s: %v", addr, err)
			continue
		}
		if u := URL(ln); !strings.HasPrefix(u, "http://127.0.0.1:") && !strings.HasPrefix(u, "http://[::1]:") {
			t.Errorf("%s: URL %s", addr, u)
		}
		ln.Close()
	}
}

func TestServeStopsWithTheContext(t *testing.T) {
	f := &fetcher{life: time.Hour}
	h, _, _ := newHandler(t, f)
	ln, err := Listen("127.0.0.1:0")
	must(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ln, h) }()
	req, _ := http.NewRequest(http.MethodGet, URL(ln), nil)
	req.Header.Set("Authorization", authToken)
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("%d", resp.StatusCode)
	}
	cancel()
	must(t, <-done)
}
