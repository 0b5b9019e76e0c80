package sessions

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opa-sts/opa-sts/internal/credentials"
	"github.com/opa-sts/opa-sts/internal/jwks"
	"github.com/opa-sts/opa-sts/internal/keyring"
	"github.com/opa-sts/opa-sts/internal/sessionstore"
)

type testLog struct{ t *testing.T }

func (l testLog) Info(f string, a ...any)  { l.t.Logf("INFO "+f, a...) }
func (l testLog) Warn(f string, a ...any)  { l.t.Logf("WARN "+f, a...) }
func (l testLog) Error(f string, a ...any) { l.t.Logf("ERROR "+f, a...) }

func TestParseConfig(t *testing.T) {
	c, err := ParseConfig(nil, "/p")
	if err != nil || c.Configured() {
		t.Fatalf("empty: %+v %v", c, err)
	}
	c, err = ParseConfig([]byte(`{}`), "/p")
	if err != nil || c.Configured() {
		t.Fatalf("{}: %+v %v", c, err)
	}
	c, err = ParseConfig([]byte(`{"identity_token_cache_size": 100}`), "/p")
	if err != nil || c.Configured() || c.IdentityTokenCacheSize != 100 {
		t.Fatalf("cache size only: %+v %v", c, err)
	}
	c, err = ParseConfig([]byte(`{"issuer": "https://sts"}`), "/p")
	if err != nil || !c.Configured() || c.Store.Type != "bolt" || c.Store.Path != "/p/sts-sessions.db" || c.Keys.Dir != "/p/sts-keys" ||
		c.Keys.Generate || c.VerifiedTokenCacheSize != DefaultVerifiedTokenCacheSize {
		t.Fatalf("defaults: %+v %v", c, err)
	}
	c, err = ParseConfig([]byte(`{"issuer": "https://sts", "store": {"type": "etcd", "etcd": {"endpoints": ["http://e:2379"]}}}`), "/p")
	if err != nil || c.RevocationSnapshot != "/p/sts-revocations.json" {
		t.Fatalf("etcd snapshot default: %+v %v", c, err)
	}
	for name, raw := range map[string]string{
		"no issuer":            `{"store": {"type": "memory"}}`,
		"unknown member":       `{"issuer": "i", "isuer": "x"}`,
		"half keys":            `{"issuer": "i", "keys": {"signing_key_files": ["a"]}}`,
		"files and generate":   `{"issuer": "i", "keys": {"signing_key_files": ["a"], "derivation_secret_file": "b", "generate": true}}`,
		"store type":           `{"issuer": "i", "store": {"type": "redis"}}`,
		"etcd no endpoints":    `{"issuer": "i", "store": {"type": "etcd", "etcd": {}}}`,
		"etcd inline password": `{"issuer": "i", "store": {"type": "etcd", "etcd": {"endpoints": ["e"], "username": "u", "password": "p"}}}`,
		"etcd user no file":    `{"issuer": "i", "store": {"type": "etcd", "etcd": {"endpoints": ["e"], "username": "u"}}}`,
		"negative cache":       `{"issuer": "i", "verified_token_cache_size": -1}`,
		"negative id cache":    `{"identity_token_cache_size": -1}`,
		"issuer with spaces":   `{"issuer": " https://sts"}`,
	} {
		if _, err := ParseConfig([]byte(raw), "/p"); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// plugins.sts_sessions.jwks: every refusal first, then what is accepted.
func TestParseJWKSConfig(t *testing.T) {
	for name, raw := range map[string]string{
		"unknown member":              `{"jwks": {"max_stale": 60}}`,
		"string value":                `{"jwks": {"max_stale_seconds": "60"}}`,
		"fractional value":            `{"jwks": {"max_stale_seconds": 1.5}}`,
		"negative max stale":          `{"jwks": {"max_stale_seconds": -1}}`,
		"max stale over a week":       `{"jwks": {"max_stale_seconds": 604801}}`,
		"zero refetch interval":       `{"jwks": {"unknown_kid_refetch_seconds": 0}}`,
		"refetch interval over 1h":    `{"jwks": {"unknown_kid_refetch_seconds": 3601}}`,
		"zero failed retry":           `{"jwks": {"failed_fetch_retry_seconds": 0}}`,
		"zero fetch timeout":          `{"jwks": {"fetch_timeout_seconds": 0}}`,
		"fetch timeout over a minute": `{"jwks": {"fetch_timeout_seconds": 61}}`,
		"zero default ttl":            `{"jwks": {"default_ttl_seconds": 0}}`,
		"milliseconds for seconds":    `{"jwks": {"max_ttl_seconds": 86400000}}`,
		"min above max":               `{"jwks": {"min_ttl_seconds": 600, "max_ttl_seconds": 300}}`,
		"max below the default 900":   `{"jwks": {"max_ttl_seconds": 300}}`,
		"min above the default 900":   `{"jwks": {"min_ttl_seconds": 1200}}`,
		"with an authority too":       `{"issuer": "https://sts", "jwks": {"fetch_timeout_seconds": 0}}`,
		"not an object":               `{"jwks": 5}`,
	} {
		if c, err := ParseConfig([]byte(raw), "/p"); err == nil {
			t.Errorf("%s: accepted %+v", name, c.JWKS.Timing())
		}
	}

	c, err := ParseConfig([]byte(`{"jwks": {"max_stale_seconds": 0, "default_ttl_seconds": 300, "min_ttl_seconds": 30}}`), "/p")
	if err != nil || c.Configured() {
		t.Fatalf("jwks only: %+v %v", c, err)
	}
	want := jwks.DefaultTiming()
	want.MaxStale, want.DefaultTTL, want.MinTTL = 0, 5*time.Minute, 30*time.Second
	if got := c.JWKS.Timing(); got != want {
		t.Fatalf("timing %+v, want %+v", got, want)
	}
	c, err = ParseConfig([]byte(`{"issuer": "https://sts", "jwks": {"fetch_timeout_seconds": 2}}`), "/p")
	if err != nil || !c.Configured() || c.JWKS.Timing().FetchTimeout != 2*time.Second {
		t.Fatalf("with an authority: %+v %v", c, err)
	}
	if got := (*JWKSConfig)(nil).Timing(); got != jwks.DefaultTiming() {
		t.Fatalf("no jwks section: %+v", got)
	}
}

func mintOne(t *testing.T, a *Authority, subject string) credentials.Issued {
	t.Helper()
	c, err := a.Mint(credentials.Grant{Subject: subject, Duration: time.Hour, Source: credentials.Source{Issuer: "https://idp", ClientID: "app"}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func newTestAuthority(t *testing.T) *Authority {
	t.Helper()
	kr, err := keyring.Generate()
	if err != nil {
		t.Fatal(err)
	}
	a, err := NewForTest("https://sts", kr)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestVerifyChecksRevocations(t *testing.T) {
	a := newTestAuthority(t)
	ctx := context.Background()
	alice, bob := mintOne(t, a, "alice"), mintOne(t, a, "bob")
	if _, verr := a.Verify(ctx, alice.AccessKeyID, alice.SessionToken, time.Now()); verr != nil {
		t.Fatal(verr)
	}
	if _, err := a.Revoke(ctx, sessionstore.Revocation{Kind: sessionstore.KindClient, Value: "app", At: time.Now()}, time.Now()); err != nil {
		t.Fatal(err)
	}
	for _, c := range []credentials.Issued{alice, bob} {
		if _, verr := a.Verify(ctx, c.AccessKeyID, c.SessionToken, time.Now()); verr == nil || verr.Code != CodeRevoked {
			t.Fatalf("revoked client's session: %v", verr)
		}
	}
	// Another authority's session (same issuer name, other keys) never verifies.
	kr2, _ := keyring.Generate()
	other, _ := NewForTest("https://sts", kr2)
	foreign := mintOne(t, other, "alice")
	if _, verr := a.Verify(ctx, foreign.AccessKeyID, foreign.SessionToken, time.Now()); verr == nil {
		t.Fatal("a session of other keys verified")
	}
}

// A revocation reaches the sessions issued up to its time, to the
// millisecond: one issued later within the same second stays valid (a user
// revoked and signed in again at once is not locked out for the rest of
// the second), one issued earlier within it is revoked.
func TestRevocationWithinOneSecond(t *testing.T) {
	a := newTestAuthority(t)
	ctx := context.Background()
	second := time.Now().Add(-time.Minute).Truncate(time.Second)
	mintAt := func(at time.Time) credentials.Issued {
		c, err := a.Mint(credentials.Grant{Subject: "alice", Duration: time.Hour, Source: credentials.Source{Issuer: "https://idp", ClientID: "app"}}, at)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	before := mintAt(second.Add(399 * time.Millisecond))
	at := mintAt(second.Add(400 * time.Millisecond))
	if _, err := a.Revoke(ctx, sessionstore.Revocation{Kind: sessionstore.KindSubject, Value: "alice", At: second.Add(400*time.Millisecond + 500*time.Microsecond)}, time.Now()); err != nil {
		t.Fatal(err)
	}
	after := mintAt(second.Add(401 * time.Millisecond))
	for name, c := range map[string]credentials.Issued{"issued before": before, "issued in the same millisecond": at} {
		if _, verr := a.Verify(ctx, c.AccessKeyID, c.SessionToken, time.Now()); verr == nil || verr.Code != CodeRevoked {
			t.Errorf("%s the revocation: %v, want revoked", name, verr)
		}
	}
	if _, verr := a.Verify(ctx, after.AccessKeyID, after.SessionToken, time.Now()); verr != nil {
		t.Errorf("issued after the revocation, in the same second: %v", verr)
	}
}

// Before the revocations have loaded, nothing verifies, nothing is
// minted or registered.
func TestNotReadyRefusesEverything(t *testing.T) {
	kr, _ := keyring.Generate()
	ready, _ := NewForTest("https://sts", kr)
	c := mintOne(t, ready, "alice")
	a, err := newAuthority("https://sts", kr, 16)
	if err != nil {
		t.Fatal(err)
	}
	a.store = sessionstore.NewMemory()
	if a.Ready() == nil {
		t.Fatal("ready before loading")
	}
	if _, verr := a.Verify(context.Background(), c.AccessKeyID, c.SessionToken, time.Now()); verr == nil || verr.Code != CodeNotReady {
		t.Fatalf("verify: %v", verr)
	}
	if _, err := a.Mint(credentials.Grant{Subject: "a", Duration: time.Hour}, time.Now()); err != ErrNotReady {
		t.Fatalf("mint: %v", err)
	}
	if err := a.Register(context.Background(), sessionstore.Session{}); err != ErrNotReady {
		t.Fatalf("register: %v", err)
	}
	if _, err := a.Revoke(context.Background(), sessionstore.Revocation{Kind: sessionstore.KindAll, At: time.Now()}, time.Now()); err != ErrNotReady {
		t.Fatalf("revoke: %v", err)
	}
	a.markLoaded()
	select {
	case <-a.Loaded():
	default:
		t.Fatal("Loaded not closed")
	}
	if _, verr := a.Verify(context.Background(), c.AccessKeyID, c.SessionToken, time.Now()); verr != nil {
		t.Fatal(verr)
	}
}

func TestOpenLoadsKeysOrSaysWhy(t *testing.T) {
	dir := t.TempDir()
	cfg, err := ParseConfig([]byte(`{"issuer": "https://sts", "store": {"type": "memory"}}`), dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(context.Background(), cfg, testLog{t}); err == nil || !strings.Contains(err.Error(), "no STS keys in") {
		t.Fatalf("missing keys: %v", err)
	}
	cfg.Keys.Generate = true
	a, err := Open(context.Background(), cfg, testLog{t})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if a.Ready() != nil || a.Issuer() != "https://sts" {
		t.Fatal("not ready after open")
	}
	if _, err := os.Stat(filepath.Join(dir, "sts-keys", "sts-signing-key.pem")); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal("second close:", err)
	}
}

// The bolt store's revocations survive a restart: the view is loaded at
// open, and sessions revoked before it stay refused.
func TestBoltRevocationsSurviveARestart(t *testing.T) {
	dir := t.TempDir()
	cfg, err := ParseConfig([]byte(`{"issuer": "https://sts", "keys": {"generate": true}}`), dir)
	if err != nil {
		t.Fatal(err)
	}
	a, err := Open(context.Background(), cfg, testLog{t})
	if err != nil {
		t.Fatal(err)
	}
	c := mintOne(t, a, "alice")
	if _, err := a.Revoke(context.Background(), sessionstore.Revocation{Kind: sessionstore.KindSubject, Value: "alice", At: time.Now()}, time.Now()); err != nil {
		t.Fatal(err)
	}
	_ = a.Close()
	b, err := Open(context.Background(), cfg, testLog{t})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, verr := b.Verify(context.Background(), c.AccessKeyID, c.SessionToken, time.Now()); verr == nil || verr.Code != CodeRevoked {
		t.Fatalf("after restart: %v", verr)
	}
}

func TestSnapshotRoundTripAndStrictRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rev.json")
	s := newSnapshot(path, testLog{t})
	now := time.Now().UTC().Truncate(time.Second)
	r1, _ := sessionstore.PrepareRevocation(sessionstore.Revocation{Kind: sessionstore.KindSubject, Value: "alice", At: now}, now)
	r2, _ := sessionstore.PrepareRevocation(sessionstore.Revocation{Kind: sessionstore.KindAll, At: now}, now)
	s.replace([]sessionstore.Revocation{r1})
	s.add(r2)
	s.add(r2)
	got, at, err := s.read()
	if err != nil || len(got) != 2 || at.IsZero() {
		t.Fatalf("read: %v %v %v", got, at, err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode: %v %v", fi, err)
	}
	for name, content := range map[string]string{
		"not json":      `{`,
		"version":       `{"version": 2, "saved_at": "2026-01-01T00:00:00Z", "revocations": []}`,
		"unknown field": `{"version": 1, "extra": 1, "revocations": []}`,
		"bad entry":     `{"version": 1, "revocations": [{"id": "x", "kind": "nope", "at": "2026-01-01T00:00:00Z"}]}`,
	} {
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.read(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	b, _ := json.Marshal(got)
	if !strings.Contains(string(b), "alice") {
		t.Fatal(string(b))
	}
}

func TestContextCarriesOnlyWhatWasPut(t *testing.T) {
	ctx := context.Background()
	if VerifiedFrom(ctx, "a", "t") != nil || MintScopeFrom(ctx) != nil {
		t.Fatal("empty context carries something")
	}
	s := &credentials.Session{SessionID: "s"}
	ctx = WithVerified(ctx, "AKID", "token", s)
	if VerifiedFrom(ctx, "AKID", "token") != s || VerifiedFrom(ctx, "AKID", "other") != nil || VerifiedFrom(ctx, "OTHER", "token") != nil {
		t.Fatal("verified session for another key or token")
	}
	kr, _ := keyring.Generate()
	a, _ := NewForTest("https://sts", kr)
	ctx, scope := WithMinting(ctx, a)
	if MintScopeFrom(ctx) != scope {
		t.Fatal("scope")
	}
	if _, err := scope.Mint(credentials.Grant{Subject: "x", Duration: time.Hour}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if m := scope.Minted(); len(m) != 1 || m[0].Grant.Subject != "x" {
		t.Fatalf("minted %v", m)
	}
}

func TestPrincipalSecret(t *testing.T) {
	kr, _ := keyring.Generate()
	a, err := NewForTest("https://sts", kr)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := credentials.NewPrincipalAccessKeyID()
	got, err := a.PrincipalSecret(id)
	if err != nil || got != credentials.DerivePrincipalSecret(kr.DerivationSecret(), id) {
		t.Fatalf("%q, %v", got, err)
	}
	for _, bad := range []string{"", "ASIAAAAAAAAAAAAAAAAA", id + "X"} {
		if _, err := a.PrincipalSecret(bad); err == nil {
			t.Errorf("%q: a secret for what is no principal key", bad)
		}
	}
}
