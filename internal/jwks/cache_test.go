package jwks_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opa-sts/opa-sts/internal/jwks"
	"github.com/opa-sts/opa-sts/internal/testkeys"
)

// keyServer serves a JWKS (and a discovery document) for cache tests.
type keyServer struct {
	*httptest.Server
	mu           sync.Mutex
	doc          []byte
	cacheControl string
	status       int
	delay        time.Duration
	issuer       string
	jwksFetches  atomic.Int64
	discoFetches atomic.Int64
}

func newKeyServer(t *testing.T, doc []byte) *keyServer {
	s := &keyServer{doc: doc, status: http.StatusOK}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		doc, cc, status, delay, issuer := s.doc, s.cacheControl, s.status, s.delay, s.issuer
		s.mu.Unlock()
		if delay > 0 {
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return
			}
		}
		switch r.URL.Path {
		case "/.well-known/openid-configuration":
			s.discoFetches.Add(1)
			if issuer == "" {
				issuer = s.URL
			}
			fmt.Fprintf(w, `{"issuer": %q, "jwks_uri": %q}`, issuer, s.URL+"/keys")
		case "/keys":
			s.jwksFetches.Add(1)
			if cc != "" {
				w.Header().Set("Cache-Control", cc)
			}
			w.WriteHeader(status)
			_, _ = w.Write(doc)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *keyServer) set(f func(s *keyServer)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func newClock() *fakeClock { return &fakeClock{now: time.Unix(1_800_000_000, 0)} }

func TestSingleFlightOnColdCache(t *testing.T) {
	k := testkeys.New(t, "ES256", "k1")
	srv := newKeyServer(t, testkeys.JWKS(k.PublicJWK(t, true)))
	srv.set(func(s *keyServer) { s.delay = 100 * time.Millisecond })
	c := jwks.New(jwks.Config{})
	src := jwks.Source{Issuer: "https://idp.example", JWKSURL: srv.URL + "/keys"}

	var wg sync.WaitGroup
	var found atomic.Int64
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			keys, err := c.Candidates(context.Background(), src, "k1", "ES256")
			if err == nil && len(keys) == 1 {
				found.Add(1)
			}
		}()
	}
	wg.Wait()
	if found.Load() != 50 {
		t.Fatalf("%d of 50 lookups found the key", found.Load())
	}
	if n := srv.jwksFetches.Load(); n != 1 {
		t.Fatalf("want 1 fetch for 50 concurrent lookups, got %d", n)
	}
}

func TestTTLFromCacheControlIsClamped(t *testing.T) {
	k := testkeys.New(t, "ES256", "k1")
	for _, tc := range []struct {
		header  string
		fresh   time.Duration // still cached after this
		refetch time.Duration // refetched after this
	}{
		{"max-age=1", 59 * time.Second, 61 * time.Second},            // floor 1m
		{"max-age=600", 599 * time.Second, 601 * time.Second},        // as announced
		{"public, max-age=99999999", 23 * time.Hour, 25 * time.Hour}, // ceiling 24h
		{"no-store", 59 * time.Second, 61 * time.Second},             // floor
		{"", 14 * time.Minute, 16 * time.Minute},                     // default 15m
	} {
		t.Run(tc.header, func(t *testing.T) {
			srv := newKeyServer(t, testkeys.JWKS(k.PublicJWK(t, true)))
			srv.set(func(s *keyServer) { s.cacheControl = tc.header })
			clock := newClock()
			c := jwks.New(jwks.Config{Now: clock.Now})
			src := jwks.Source{Issuer: "https://idp.example", JWKSURL: srv.URL + "/keys"}
			mustFind(t, c, src, "k1", "ES256")
			clock.Advance(tc.fresh)
			mustFind(t, c, src, "k1", "ES256")
			if n := srv.jwksFetches.Load(); n != 1 {
				t.Fatalf("after %s: want 1 fetch, got %d", tc.fresh, n)
			}
			clock.Advance(tc.refetch - tc.fresh)
			mustFind(t, c, src, "k1", "ES256")
			if n := srv.jwksFetches.Load(); n != 2 {
				t.Fatalf("after %s: want 2 fetches, got %d", tc.refetch, n)
			}
		})
	}
}

func TestUnknownKIDRefetchIsRateLimited(t *testing.T) {
	k1 := testkeys.New(t, "ES256", "k1")
	srv := newKeyServer(t, testkeys.JWKS(k1.PublicJWK(t, true)))
	clock := newClock()
	c := jwks.New(jwks.Config{Now: clock.Now, RefetchInterval: 15 * time.Second})
	src := jwks.Source{Issuer: "https://idp.example", JWKSURL: srv.URL + "/keys"}
	mustFind(t, c, src, "k1", "ES256")

	// A flood of random kids causes at most one refetch per interval.
	for i := range 1000 {
		keys, err := c.Candidates(context.Background(), src, fmt.Sprintf("random-%d", i), "ES256")
		if err != nil || len(keys) != 0 {
			t.Fatalf("random kid: keys=%d err=%v", len(keys), err)
		}
	}
	if n := srv.jwksFetches.Load(); n != 2 {
		t.Fatalf("want 2 fetches (initial + one refetch), got %d", n)
	}
	st := c.Stats()
	if st.RefetchUnknownKID != 1 || st.RefetchSuppressed != 999 {
		t.Fatalf("stats: %+v", st)
	}

	// The IdP rotates: once the interval has passed, the new kid is found.
	clock.Advance(5 * time.Second)
	k2 := testkeys.New(t, "ES256", "k2")
	srv.set(func(s *keyServer) { s.doc = testkeys.JWKS(k2.PublicJWK(t, true), k1.PublicJWK(t, true)) })
	if keys, _ := c.Candidates(context.Background(), src, "k2", "ES256"); len(keys) != 0 {
		t.Fatal("new kid found before the refetch interval passed")
	}
	clock.Advance(11 * time.Second)
	mustFind(t, c, src, "k2", "ES256")
	if n := srv.jwksFetches.Load(); n != 3 {
		t.Fatalf("want 3 fetches, got %d", n)
	}
}

func TestRotationRightAfterAFetchIsPickedUp(t *testing.T) {
	k1 := testkeys.New(t, "ES256", "k1")
	srv := newKeyServer(t, testkeys.JWKS(k1.PublicJWK(t, true)))
	c := jwks.New(jwks.Config{Now: newClock().Now})
	src := jwks.Source{Issuer: "https://idp.example", JWKSURL: srv.URL + "/keys"}
	mustFind(t, c, src, "k1", "ES256")
	k2 := testkeys.New(t, "ES256", "k2")
	srv.set(func(s *keyServer) { s.doc = testkeys.JWKS(k2.PublicJWK(t, true), k1.PublicJWK(t, true)) })
	mustFind(t, c, src, "k2", "ES256") // same instant as the first fetch
}

func TestServeStaleWhileIdPDown(t *testing.T) {
	k := testkeys.New(t, "ES256", "k1")
	srv := newKeyServer(t, testkeys.JWKS(k.PublicJWK(t, true)))
	clock := newClock()
	c := jwks.New(jwks.Config{Now: clock.Now, MaxStale: time.Hour})
	src := jwks.Source{Issuer: "https://idp.example", JWKSURL: srv.URL + "/keys"}
	mustFind(t, c, src, "k1", "ES256")

	srv.set(func(s *keyServer) { s.status = http.StatusServiceUnavailable })
	clock.Advance(16 * time.Minute) // past the 15m default TTL
	mustFind(t, c, src, "k1", "ES256")
	clock.Advance(30 * time.Minute)
	mustFind(t, c, src, "k1", "ES256")
	if c.Stats().StaleServed < 2 {
		t.Fatalf("stale set not reported: %+v", c.Stats())
	}
	clock.Advance(30 * time.Minute) // now beyond TTL + MaxStale
	if _, err := c.Candidates(context.Background(), src, "k1", "ES256"); !errors.Is(err, jwks.ErrUnreachable) {
		t.Fatalf("want ErrUnreachable beyond the stale bound, got %v", err)
	}

	// The IdP comes back: fresh keys again.
	srv.set(func(s *keyServer) { s.status = http.StatusOK })
	clock.Advance(10 * time.Second) // past the negative TTL
	mustFind(t, c, src, "k1", "ES256")
}

func TestNegativeCachingOnColdCache(t *testing.T) {
	srv := newKeyServer(t, []byte(`{}`))
	srv.set(func(s *keyServer) { s.status = http.StatusInternalServerError })
	clock := newClock()
	c := jwks.New(jwks.Config{Now: clock.Now, NegativeTTL: 5 * time.Second})
	src := jwks.Source{Issuer: "https://idp.example", JWKSURL: srv.URL + "/keys"}
	for range 100 {
		if _, err := c.Candidates(context.Background(), src, "k1", "ES256"); !errors.Is(err, jwks.ErrUnreachable) {
			t.Fatalf("want ErrUnreachable, got %v", err)
		}
	}
	if n := srv.jwksFetches.Load(); n != 1 {
		t.Fatalf("want 1 fetch while the failure is remembered, got %d", n)
	}
	clock.Advance(6 * time.Second)
	_, _ = c.Candidates(context.Background(), src, "k1", "ES256")
	if n := srv.jwksFetches.Load(); n != 2 {
		t.Fatalf("want a new attempt after the negative TTL, got %d fetches", n)
	}
}

func TestFetchTimeoutAndContext(t *testing.T) {
	k := testkeys.New(t, "ES256", "k1")
	srv := newKeyServer(t, testkeys.JWKS(k.PublicJWK(t, true)))
	srv.set(func(s *keyServer) { s.delay = 10 * time.Second })
	c := jwks.New(jwks.Config{Fetch: jwks.FetchConfig{Timeout: 200 * time.Millisecond}})
	src := jwks.Source{Issuer: "https://idp.example", JWKSURL: srv.URL + "/keys"}
	start := time.Now()
	if _, err := c.Candidates(context.Background(), src, "k1", "ES256"); !errors.Is(err, jwks.ErrUnreachable) {
		t.Fatalf("want ErrUnreachable on timeout, got %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("fetch timeout not honoured")
	}

	// A caller's own deadline is honoured even while a fetch is under way.
	c2 := jwks.New(jwks.Config{Fetch: jwks.FetchConfig{Timeout: time.Second}})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start = time.Now()
	if _, err := c2.Candidates(ctx, src, "k1", "ES256"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("want the caller's deadline, got %v", err)
	}
	if time.Since(start) > 3*time.Second {
		t.Fatal("caller context not honoured")
	}
}

func TestResponseSizeLimit(t *testing.T) {
	big := []byte(`{"keys": [], "pad": "` + strings.Repeat("x", 2<<20) + `"}`)
	srv := newKeyServer(t, big)
	c := jwks.New(jwks.Config{})
	src := jwks.Source{Issuer: "https://idp.example", JWKSURL: srv.URL + "/keys"}
	_, err := c.Candidates(context.Background(), src, "k1", "ES256")
	if !errors.Is(err, jwks.ErrUnreachable) || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("want a size error, got %v", err)
	}
}

func TestDiscovery(t *testing.T) {
	k := testkeys.New(t, "RS256", "k1")
	srv := newKeyServer(t, testkeys.JWKS(k.PublicJWK(t, true)))
	c := jwks.New(jwks.Config{})
	src := jwks.Source{Issuer: srv.URL, DiscoveryURL: srv.URL + "/.well-known/openid-configuration"}
	mustFind(t, c, src, "k1", "RS256")
	if srv.discoFetches.Load() != 1 || srv.jwksFetches.Load() != 1 {
		t.Fatalf("discovery %d, jwks %d", srv.discoFetches.Load(), srv.jwksFetches.Load())
	}

	// A discovery document naming another issuer is refused.
	srv2 := newKeyServer(t, testkeys.JWKS(k.PublicJWK(t, true)))
	srv2.set(func(s *keyServer) { s.issuer = "https://evil.example" })
	src2 := jwks.Source{Issuer: srv2.URL, DiscoveryURL: srv2.URL + "/.well-known/openid-configuration"}
	_, err := c.Candidates(context.Background(), src2, "k1", "RS256")
	if !errors.Is(err, jwks.ErrUnreachable) || !strings.Contains(err.Error(), "names issuer") {
		t.Fatalf("want an issuer mismatch, got %v", err)
	}
}

func TestKeysAreBoundToTheirIssuer(t *testing.T) {
	k := testkeys.New(t, "ES256", "k1")
	srv := newKeyServer(t, testkeys.JWKS(k.PublicJWK(t, true)))
	c := jwks.New(jwks.Config{})
	a := jwks.Source{Issuer: "https://a.example", JWKSURL: srv.URL + "/keys"}
	b := jwks.Source{Issuer: "https://b.example", JWKSURL: srv.URL + "/keys"}
	mustFind(t, c, a, "k1", "ES256")
	if c.Peek(b) != nil {
		t.Fatal("issuer b sees the key set fetched for issuer a")
	}
	mustFind(t, c, b, "k1", "ES256")
	if n := srv.jwksFetches.Load(); n != 2 {
		t.Fatalf("want one fetch per issuer, got %d", n)
	}
}

func TestSourceValidation(t *testing.T) {
	for _, tc := range []struct {
		src      jwks.Source
		insecure bool
		ok       bool
	}{
		{jwks.Source{Issuer: "i", JWKSURL: "https://idp.example/keys"}, false, true},
		{jwks.Source{Issuer: "i", JWKSURL: "http://127.0.0.1:8080/keys"}, false, true},
		{jwks.Source{Issuer: "i", JWKSURL: "http://[::1]:8080/keys"}, false, true},
		{jwks.Source{Issuer: "i", JWKSURL: "http://localhost/keys"}, false, true},
		{jwks.Source{Issuer: "i", JWKSURL: "http://idp.example/keys"}, false, false},
		{jwks.Source{Issuer: "i", JWKSURL: "http://idp.example/keys"}, true, true},
		{jwks.Source{Issuer: "i", JWKSURL: "file:///etc/passwd"}, true, false},
		{jwks.Source{Issuer: "i", JWKSURL: "https://user:pw@idp.example/keys"}, false, false},
		{jwks.Source{Issuer: "", JWKSURL: "https://idp.example/keys"}, false, false},
		{jwks.Source{Issuer: "i"}, false, false},
		{jwks.Source{Issuer: "i", JWKSURL: "https://a/k", DiscoveryURL: "https://a/d"}, false, false},
	} {
		err := tc.src.Validate(tc.insecure)
		if (err == nil) != tc.ok {
			t.Errorf("%+v insecure=%v: err=%v, want ok=%v", tc.src, tc.insecure, err, tc.ok)
		}
	}
}

func mustFind(t *testing.T, c *jwks.Cache, src jwks.Source, kid, alg string) {
	t.Helper()
	keys, err := c.Candidates(context.Background(), src, kid, alg)
	if err != nil {
		t.Fatalf("lookup %s: %v", kid, err)
	}
	if len(keys) != 1 || keys[0].KID != kid {
		t.Fatalf("kid %s: got %d keys", kid, len(keys))
	}
}

func TestTimingValidation(t *testing.T) {
	if err := jwks.DefaultTiming().Validate(); err != nil {
		t.Fatalf("the default timing: %v", err)
	}
	def := jwks.DefaultTiming()
	for name, mutate := range map[string]func(*jwks.Timing){
		"zero min ttl":              func(t *jwks.Timing) { t.MinTTL = 0 },
		"negative max ttl":          func(t *jwks.Timing) { t.MaxTTL = -time.Second },
		"zero default ttl":          func(t *jwks.Timing) { t.DefaultTTL = 0 },
		"zero refetch interval":     func(t *jwks.Timing) { t.RefetchInterval = 0 },
		"zero negative ttl":         func(t *jwks.Timing) { t.NegativeTTL = 0 },
		"zero fetch timeout":        func(t *jwks.Timing) { t.FetchTimeout = 0 },
		"negative max stale":        func(t *jwks.Timing) { t.MaxStale = -time.Second },
		"min above default":         func(t *jwks.Timing) { t.MinTTL = 20 * time.Minute },
		"default above max":         func(t *jwks.Timing) { t.MaxTTL = 10 * time.Minute },
		"min above max, default in": func(t *jwks.Timing) { t.MinTTL, t.MaxTTL = time.Hour, time.Minute },
	} {
		bad := def
		mutate(&bad)
		if err := bad.Validate(); err == nil {
			t.Errorf("%s: accepted %+v", name, bad)
		}
		c := jwks.New(jwks.Config{})
		if err := c.SetTiming(bad); err == nil {
			t.Errorf("%s: SetTiming accepted it", name)
		}
		if c.Timing() != def {
			t.Errorf("%s: a refused timing changed the cache: %+v", name, c.Timing())
		}
	}
	noStale := def
	noStale.MaxStale = 0
	if err := noStale.Validate(); err != nil {
		t.Fatalf("MaxStale 0 (never serve stale keys): %v", err)
	}
}

// A new timing applies to what the cache does next: the stale window at
// once, the lifetime of a key set from its next fetch.
func TestSetTimingAppliesWhileRunning(t *testing.T) {
	k := testkeys.New(t, "ES256", "k1")
	srv := newKeyServer(t, testkeys.JWKS(k.PublicJWK(t, true)))
	clock := newClock()
	c := jwks.New(jwks.Config{Now: clock.Now})
	src := jwks.Source{Issuer: "https://idp.example", JWKSURL: srv.URL + "/keys"}
	mustFind(t, c, src, "k1", "ES256")

	tm := jwks.DefaultTiming()
	tm.MinTTL, tm.DefaultTTL, tm.MaxTTL = time.Minute, 2*time.Minute, time.Hour
	tm.MaxStale = 0
	if err := c.SetTiming(tm); err != nil {
		t.Fatal(err)
	}
	// The cached set keeps the 15 minutes it was given.
	clock.Advance(10 * time.Minute)
	mustFind(t, c, src, "k1", "ES256")
	if n := srv.jwksFetches.Load(); n != 1 {
		t.Fatalf("refetched before the set's own lifetime ended: %d fetches", n)
	}
	// Refetched after 15 minutes, it now lives 2.
	clock.Advance(6 * time.Minute)
	mustFind(t, c, src, "k1", "ES256")
	clock.Advance(2*time.Minute + time.Second)
	mustFind(t, c, src, "k1", "ES256")
	if n := srv.jwksFetches.Load(); n != 3 {
		t.Fatalf("want 3 fetches with the 2-minute default, got %d", n)
	}

	// MaxStale 0: the IdP down and the set expired, tokens are refused at
	// once instead of being verified with the old keys.
	srv.set(func(s *keyServer) { s.status = http.StatusServiceUnavailable })
	clock.Advance(2*time.Minute + time.Second)
	if _, err := c.Candidates(context.Background(), src, "k1", "ES256"); !errors.Is(err, jwks.ErrUnreachable) {
		t.Fatalf("with MaxStale 0 an expired key set was used: %v", err)
	}
	if st := c.Stats(); st.StaleServed != 0 {
		t.Fatalf("stale served with MaxStale 0: %+v", st)
	}

	// The fetch timeout applies at once too.
	slow := newKeyServer(t, testkeys.JWKS(k.PublicJWK(t, true)))
	slow.set(func(s *keyServer) { s.delay = 10 * time.Second })
	tm.FetchTimeout = 100 * time.Millisecond
	if err := c.SetTiming(tm); err != nil {
		t.Fatal(err)
	}
	slowSrc := jwks.Source{Issuer: "https://slow.example", JWKSURL: slow.URL + "/keys"}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.Candidates(ctx, slowSrc, "k1", "ES256"); !errors.Is(err, jwks.ErrUnreachable) {
		t.Fatalf("the new fetch timeout did not apply: %v", err)
	}
}
