// Package sessionstoretest is the conformance suite every
// sessionstore.Store backend must pass.
//
//	func TestConformance(t *testing.T) {
//		sessionstoretest.Run(t, func(t *testing.T) sessionstore.Store { return openMyBackend(t) })
//	}
//
// newStore must return a fresh, empty store for each call (the suite calls
// it once per subtest) that uses sessionstore.DefaultMaxSessionLifetime or
// any maximum between one hour and ten years. The suite closes the stores
// it gets; closing twice must be harmless.
package sessionstoretest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/opa-sts/opa-sts/internal/sessionstore"
)

// Run runs the whole suite as subtests of t.
func Run(t *testing.T, newStore func(t *testing.T) sessionstore.Store) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, st sessionstore.Store)
	}{
		{"RegisterGet", testRegisterGet},
		{"RegisterValidation", testRegisterValidation},
		{"ReRegisterReplaces", testReRegisterReplaces},
		{"ListFilters", testListFilters},
		{"ListExpired", testListExpired},
		{"ListLarge", testListLarge},
		{"RevokeValidation", testRevokeValidation},
		{"RevokeRoundTrip", testRevokeRoundTrip},
		{"RevocationBoundaries", testRevocationBoundaries},
		{"Purge", testPurge},
		{"PurgeBoundary", testPurgeBoundary},
		{"PurgeRevocations", testPurgeRevocations},
		{"ConcurrentRegister", testConcurrentRegister},
		{"ConcurrentMixed", testConcurrentMixed},
		{"Cancelled", testCancelled},
		{"Closed", testClosed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := newStore(t)
			t.Cleanup(func() {
				if err := st.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tc.fn(t, st)
		})
	}
}

var bg = context.Background()

// Session returns a valid session for tests: issued an hour before now
// (plus a few nanoseconds, to catch precision loss), expiring at exp.
func Session(id string, now, exp time.Time) sessionstore.Session {
	return sessionstore.Session{
		ID:          id,
		AccessKeyID: "AK" + id,
		Subject:     "subject-" + id,
		Issuer:      "https://idp.example/realms/r",
		IdPSubject:  "idp-sub-" + id,
		ClientID:    "client-" + id,
		Action:      "AssumeRoleWithClientGrants",
		IssuedAt:    now.Add(-time.Hour + 7),
		ExpiresAt:   exp,
		Revision:    "rev-1",
		SourceIP:    "192.0.2.1",
	}
}

// SameSession reports whether a and b are equal, comparing times as
// instants.
func SameSession(a, b sessionstore.Session) bool {
	return a.ID == b.ID && a.AccessKeyID == b.AccessKeyID && a.Subject == b.Subject &&
		a.Issuer == b.Issuer && a.IdPSubject == b.IdPSubject && a.ClientID == b.ClientID &&
		a.Action == b.Action && a.IssuedAt.Equal(b.IssuedAt) && a.ExpiresAt.Equal(b.ExpiresAt) &&
		a.Revision == b.Revision && a.SourceIP == b.SourceIP
}

// RegisterAll registers ss with a few concurrent workers (batching
// backends make a lone sequential writer wait for each batch).
func RegisterAll(t testing.TB, st sessionstore.Store, ss []sessionstore.Session) {
	t.Helper()
	const workers = 32
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
		next = make(chan sessionstore.Session)
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s := range next {
				if err := st.Register(bg, s); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		}()
	}
	for _, s := range ss {
		next <- s
	}
	close(next)
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("Register: %d errors, first: %v", len(errs), errs[0])
	}
}

func ids(ss []sessionstore.Session) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s.ID
	}
	return out
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func testRegisterGet(t *testing.T, st sessionstore.Store) {
	now := time.Now()
	s := Session("s1", now, now.Add(time.Hour))
	if err := st.Register(bg, s); err != nil {
		t.Fatalf("Register: %v", err)
	}
	got, ok, err := st.Get(bg, "s1")
	if err != nil || !ok {
		t.Fatalf("Get = _, %v, %v; want found", ok, err)
	}
	if !SameSession(got, s) {
		t.Errorf("Get = %+v\nwant %+v", got, s)
	}
	// Empty optional fields survive too.
	minimal := sessionstore.Session{ID: "s2", AccessKeyID: "AK2", IssuedAt: now, ExpiresAt: now.Add(time.Minute)}
	if err := st.Register(bg, minimal); err != nil {
		t.Fatalf("Register minimal: %v", err)
	}
	if got, ok, err := st.Get(bg, "s2"); err != nil || !ok || !SameSession(got, minimal) {
		t.Errorf("Get minimal = %+v, %v, %v; want %+v", got, ok, err, minimal)
	}
	if _, ok, err := st.Get(bg, "nope"); err != nil || ok {
		t.Errorf("Get unknown = _, %v, %v; want not found, no error", ok, err)
	}
}

func testRegisterValidation(t *testing.T, st sessionstore.Store) {
	now := time.Now()
	good := Session("v", now, now.Add(time.Hour))
	bad := map[string]func(s *sessionstore.Session){
		"empty id":             func(s *sessionstore.Session) { s.ID = "" },
		"empty access key":     func(s *sessionstore.Session) { s.AccessKeyID = "" },
		"zero issued":          func(s *sessionstore.Session) { s.IssuedAt = time.Time{} },
		"expires at issue":     func(s *sessionstore.Session) { s.ExpiresAt = s.IssuedAt },
		"expires before issue": func(s *sessionstore.Session) { s.ExpiresAt = s.IssuedAt.Add(-time.Second) },
		"zero expiry":          func(s *sessionstore.Session) { s.ExpiresAt = time.Time{} },
		"longer than any max":  func(s *sessionstore.Session) { s.ExpiresAt = s.IssuedAt.Add(100 * 365 * 24 * time.Hour) },
	}
	for name, mutate := range bad {
		s := good
		mutate(&s)
		if err := st.Register(bg, s); !errors.Is(err, sessionstore.ErrInvalid) {
			t.Errorf("%s: Register = %v; want ErrInvalid", name, err)
		}
	}
	got, err := st.List(bg, sessionstore.Filter{IncludeExpired: true})
	if err != nil || len(got) != 0 {
		t.Errorf("List after rejected registrations = %v, %v; want empty", ids(got), err)
	}
}

func testReRegisterReplaces(t *testing.T, st sessionstore.Store) {
	now := time.Now()
	s := Session("r", now, now.Add(time.Minute))
	if err := st.Register(bg, s); err != nil {
		t.Fatal(err)
	}
	s.ExpiresAt = now.Add(2 * time.Hour)
	s.Revision = "rev-2"
	if err := st.Register(bg, s); err != nil {
		t.Fatal(err)
	}
	got, err := st.List(bg, sessionstore.Filter{IncludeExpired: true})
	if err != nil || len(got) != 1 || !SameSession(got[0], s) {
		t.Fatalf("List = %+v, %v; want just the replacement %+v", got, err, s)
	}
	// The old expiry must not purge the replacement.
	if n, err := st.PurgeExpired(bg, now.Add(time.Hour)); err != nil || n != 0 {
		t.Errorf("PurgeExpired between old and new expiry = %d, %v; want 0", n, err)
	}
	if _, ok, _ := st.Get(bg, "r"); !ok {
		t.Errorf("replacement purged by its old expiry")
	}
}

func testListFilters(t *testing.T, st sessionstore.Store) {
	now := time.Now()
	var ss []sessionstore.Session
	for i := range 12 {
		s := Session(fmt.Sprintf("f%02d", i), now, now.Add(time.Duration(12-i)*time.Minute))
		s.Subject = []string{"alice", "bob", "carol"}[i%3]
		s.Issuer = []string{"iss-a", "iss-b"}[i%2]
		s.ClientID = []string{"c1", "c2", "c3", "c4"}[i%4]
		ss = append(ss, s)
	}
	RegisterAll(t, st, ss)
	// Ordered by ExpiresAt: f11 expires first.
	want := func(pred func(i int) bool) []string {
		var out []string
		for i := 11; i >= 0; i-- {
			if pred(i) {
				out = append(out, fmt.Sprintf("f%02d", i))
			}
		}
		return out
	}
	all := func(int) bool { return true }
	cases := []struct {
		name string
		f    sessionstore.Filter
		want []string
	}{
		{"all", sessionstore.Filter{}, want(all)},
		{"subject", sessionstore.Filter{Subject: "alice"}, want(func(i int) bool { return i%3 == 0 })},
		{"issuer", sessionstore.Filter{Issuer: "iss-b"}, want(func(i int) bool { return i%2 == 1 })},
		{"client", sessionstore.Filter{ClientID: "c3"}, want(func(i int) bool { return i%4 == 2 })},
		{"subject+issuer", sessionstore.Filter{Subject: "bob", Issuer: "iss-a"}, want(func(i int) bool { return i%3 == 1 && i%2 == 0 })},
		{"all three", sessionstore.Filter{Subject: "carol", Issuer: "iss-a", ClientID: "c3"}, want(func(i int) bool { return i%3 == 2 && i%2 == 0 && i%4 == 2 })},
		{"no match", sessionstore.Filter{Subject: "mallory"}, nil},
		{"limit", sessionstore.Filter{Limit: 5}, want(all)[:5]},
		{"limit with filter", sessionstore.Filter{Issuer: "iss-a", Limit: 2}, want(func(i int) bool { return i%2 == 0 })[:2]},
		{"limit above count", sessionstore.Filter{Subject: "alice", Limit: 100}, want(func(i int) bool { return i%3 == 0 })},
		{"negative limit", sessionstore.Filter{Limit: -1}, want(all)},
	}
	for _, c := range cases {
		got, err := st.List(bg, c.f)
		if err != nil {
			t.Errorf("%s: List: %v", c.name, err)
			continue
		}
		if !equalStrings(ids(got), c.want) {
			t.Errorf("%s: List = %v; want %v", c.name, ids(got), c.want)
		}
	}
	// Same expiry: ordered by ID.
	same := now.Add(3 * time.Hour)
	RegisterAll(t, st, []sessionstore.Session{Session("z-b", now, same), Session("z-a", now, same), Session("z-c", now, same)})
	got, err := st.List(bg, sessionstore.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if g := ids(got)[len(got)-3:]; !equalStrings(g, []string{"z-a", "z-b", "z-c"}) {
		t.Errorf("same expiry ordered %v; want by ID", g)
	}
}

func testListExpired(t *testing.T, st sessionstore.Store) {
	now := time.Now()
	RegisterAll(t, st, []sessionstore.Session{
		Session("live", now, now.Add(time.Hour)),
		Session("dead", now, now.Add(-time.Minute)),
		Session("dead2", now, now.Add(-30*time.Minute)),
	})
	got, err := st.List(bg, sessionstore.Filter{})
	if err != nil || !equalStrings(ids(got), []string{"live"}) {
		t.Errorf("List = %v, %v; want [live] (expired excluded by default)", ids(got), err)
	}
	got, err = st.List(bg, sessionstore.Filter{IncludeExpired: true})
	if err != nil || !equalStrings(ids(got), []string{"dead2", "dead", "live"}) {
		t.Errorf("List IncludeExpired = %v, %v; want [dead2 dead live]", ids(got), err)
	}
	got, err = st.List(bg, sessionstore.Filter{IncludeExpired: true, Limit: 1})
	if err != nil || !equalStrings(ids(got), []string{"dead2"}) {
		t.Errorf("List IncludeExpired Limit 1 = %v, %v; want [dead2]", ids(got), err)
	}
	// Get still returns an expired session until it is purged.
	if _, ok, err := st.Get(bg, "dead"); err != nil || !ok {
		t.Errorf("Get expired = %v, %v; want found until purged", ok, err)
	}
}

// testListLarge crosses any internal paging.
func testListLarge(t *testing.T, st sessionstore.Store) {
	now := time.Now()
	const n = 2500
	ss := make([]sessionstore.Session, n)
	for i := range ss {
		ss[i] = Session(fmt.Sprintf("l%05d", i), now, now.Add(time.Hour+time.Duration(i)*time.Millisecond))
		if i%10 == 0 {
			ss[i].Subject = "tenth"
		}
	}
	RegisterAll(t, st, ss)
	got, err := st.List(bg, sessionstore.Filter{})
	if err != nil || len(got) != n {
		t.Fatalf("List = %d sessions, %v; want %d", len(got), err, n)
	}
	for i := range got {
		if got[i].ID != ss[i].ID {
			t.Fatalf("List[%d] = %s; want %s", i, got[i].ID, ss[i].ID)
		}
	}
	got, err = st.List(bg, sessionstore.Filter{Subject: "tenth"})
	if err != nil || len(got) != n/10 {
		t.Fatalf("List subject = %d, %v; want %d", len(got), err, n/10)
	}
	got, err = st.List(bg, sessionstore.Filter{Subject: "tenth", Limit: 150})
	if err != nil || len(got) != 150 || got[149].ID != ss[1490].ID {
		t.Fatalf("List subject limit 150 = %d, %v", len(got), err)
	}
}

func testRevokeValidation(t *testing.T, st sessionstore.Store) {
	at := time.Now()
	bad := map[string]sessionstore.Revocation{
		"unknown kind":    {Kind: "user", Value: "x", At: at},
		"empty kind":      {Value: "x", At: at},
		"session empty":   {Kind: sessionstore.KindSession, At: at},
		"subject empty":   {Kind: sessionstore.KindSubject, At: at},
		"issuer empty":    {Kind: sessionstore.KindIssuer, At: at},
		"client empty":    {Kind: sessionstore.KindClient, At: at},
		"all with value":  {Kind: sessionstore.KindAll, Value: "x", At: at},
		"zero at":         {Kind: sessionstore.KindSubject, Value: "x"},
		"zero at for all": {Kind: sessionstore.KindAll},
	}
	for name, r := range bad {
		if err := st.Revoke(bg, r); !errors.Is(err, sessionstore.ErrInvalid) {
			t.Errorf("%s: Revoke = %v; want ErrInvalid", name, err)
		}
	}
	rs, err := st.Revocations(bg)
	if err != nil || len(rs) != 0 {
		t.Errorf("Revocations after rejected entries = %v, %v; want none", rs, err)
	}
}

func sameRevocation(a, b sessionstore.Revocation) bool {
	return a.ID == b.ID && a.Kind == b.Kind && a.Value == b.Value && a.At.Equal(b.At) &&
		a.Reason == b.Reason && a.CreatedAt.Equal(b.CreatedAt)
}

func testRevokeRoundTrip(t *testing.T, st sessionstore.Store) {
	now := time.Now()
	r1 := sessionstore.Revocation{ID: "r1", Kind: sessionstore.KindSubject, Value: "alice", At: now.Add(3), Reason: "left", CreatedAt: now.Add(-2 * time.Second)}
	r2 := sessionstore.Revocation{ID: "r0", Kind: sessionstore.KindAll, At: now, CreatedAt: now.Add(-time.Second)}
	for _, r := range []sessionstore.Revocation{r1, r2} {
		if err := st.Revoke(bg, r); err != nil {
			t.Fatalf("Revoke %s: %v", r.ID, err)
		}
	}
	// Revoking the same entry again is a no-op; changing it is a conflict.
	if err := st.Revoke(bg, r1); err != nil {
		t.Errorf("Revoke same entry again = %v; want nil", err)
	}
	changed := r1
	changed.Value = "bob"
	if err := st.Revoke(bg, changed); !errors.Is(err, sessionstore.ErrConflict) {
		t.Errorf("Revoke with a used id = %v; want ErrConflict", err)
	}
	// ID and CreatedAt are filled in when missing.
	before := time.Now()
	if err := st.Revoke(bg, sessionstore.Revocation{Kind: sessionstore.KindClient, Value: "c", At: now}); err != nil {
		t.Fatal(err)
	}
	rs, err := st.Revocations(bg)
	if err != nil || len(rs) != 3 {
		t.Fatalf("Revocations = %+v, %v; want 3", rs, err)
	}
	// Ordered by CreatedAt.
	if !sameRevocation(rs[0], r1) || !sameRevocation(rs[1], r2) {
		t.Errorf("Revocations[0:2] = %+v\nwant %+v, %+v", rs[:2], r1, r2)
	}
	gen := rs[2]
	if gen.ID == "" || gen.Kind != sessionstore.KindClient || gen.Value != "c" || !gen.At.Equal(now) {
		t.Errorf("generated entry = %+v", gen)
	}
	if gen.CreatedAt.Before(before.Add(-time.Second)) || gen.CreatedAt.After(time.Now().Add(time.Second)) {
		t.Errorf("generated CreatedAt = %v; want about now", gen.CreatedAt)
	}
}

// testRevocationBoundaries stores one entry of each kind, loads them back
// into a view and checks "issued at or before At" to the nanosecond.
func testRevocationBoundaries(t *testing.T, st sessionstore.Store) {
	at := time.Now().Add(-time.Hour).Truncate(time.Second).Add(123456789)
	entries := []sessionstore.Revocation{
		{Kind: sessionstore.KindSession, Value: "sid", At: at},
		{Kind: sessionstore.KindSubject, Value: "alice", At: at},
		{Kind: sessionstore.KindIssuer, Value: "https://bad-idp", At: at},
		{Kind: sessionstore.KindClient, Value: "leaky-client", At: at},
	}
	for _, r := range entries {
		if err := st.Revoke(bg, r); err != nil {
			t.Fatalf("Revoke %s: %v", r.Kind, err)
		}
	}
	rs, err := st.Revocations(bg)
	if err != nil || len(rs) != len(entries) {
		t.Fatalf("Revocations = %v, %v", rs, err)
	}
	v := sessionstore.NewRevocationView()
	v.Load(rs)
	base := sessionstore.Session{ID: "other", Subject: "bob", Issuer: "https://good-idp", ClientID: "c"}
	matching := map[sessionstore.RevocationKind]func(s *sessionstore.Session){
		sessionstore.KindSession: func(s *sessionstore.Session) { s.ID = "sid" },
		sessionstore.KindSubject: func(s *sessionstore.Session) { s.Subject = "alice" },
		sessionstore.KindIssuer:  func(s *sessionstore.Session) { s.Issuer = "https://bad-idp" },
		sessionstore.KindClient:  func(s *sessionstore.Session) { s.ClientID = "leaky-client" },
	}
	for kind, set := range matching {
		for _, c := range []struct {
			issued time.Time
			want   bool
		}{
			{at.Add(-time.Hour), true},
			{at.Add(-1), true},
			{at, true},
			{at.Add(1), false},
			{at.Add(time.Hour), false},
		} {
			s := base
			set(&s)
			s.IssuedAt = c.issued
			if got := v.IsRevoked(s); got != c.want {
				t.Errorf("%s: IsRevoked(issued At%+v) = %v; want %v", kind, c.issued.Sub(at), got, c.want)
			}
			for _, r := range rs {
				if got := r.Matches(s); got != (c.want && r.Kind == kind) {
					t.Errorf("%s entry Matches(%s session issued At%+v) = %v", r.Kind, kind, c.issued.Sub(at), got)
				}
			}
		}
	}
	s := base
	s.IssuedAt = at.Add(-time.Hour)
	if v.IsRevoked(s) {
		t.Errorf("unrelated session revoked")
	}
	// "all" revokes everything issued at or before its At.
	if err := st.Revoke(bg, sessionstore.Revocation{Kind: sessionstore.KindAll, At: at}); err != nil {
		t.Fatal(err)
	}
	if err := sessionstore.LoadView(bg, st, v); err != nil {
		t.Fatal(err)
	}
	s.IssuedAt = at
	if !v.IsRevoked(s) {
		t.Errorf("all: session issued at At not revoked")
	}
	s.IssuedAt = at.Add(1)
	if v.IsRevoked(s) {
		t.Errorf("all: session issued after At revoked")
	}
}

func testPurge(t *testing.T, st sessionstore.Store) {
	now := time.Now()
	const expired, live = 5000, 50
	var ss []sessionstore.Session
	for i := range expired {
		ss = append(ss, Session(fmt.Sprintf("e%05d", i), now, now.Add(-time.Duration(i+1)*time.Millisecond)))
	}
	for i := range live {
		ss = append(ss, Session(fmt.Sprintf("l%05d", i), now, now.Add(time.Duration(i+1)*time.Minute)))
	}
	RegisterAll(t, st, ss)
	n, err := st.PurgeExpired(bg, now)
	if err != nil || n != expired {
		t.Fatalf("PurgeExpired = %d, %v; want %d", n, err, expired)
	}
	got, err := st.List(bg, sessionstore.Filter{IncludeExpired: true})
	if err != nil || len(got) != live {
		t.Fatalf("List after purge = %d sessions, %v; want %d", len(got), err, live)
	}
	for _, s := range got {
		if s.ExpiresAt.Before(now) {
			t.Errorf("expired session %s survived", s.ID)
		}
	}
	for _, id := range []string{"e00000", "e02500", "e04999"} {
		if _, ok, err := st.Get(bg, id); err != nil || ok {
			t.Errorf("Get purged %s = %v, %v; want not found", id, ok, err)
		}
	}
	if _, ok, err := st.Get(bg, "l00000"); err != nil || !ok {
		t.Errorf("Get live = %v, %v; want found", ok, err)
	}
	if n, err := st.PurgeExpired(bg, now); err != nil || n != 0 {
		t.Errorf("second PurgeExpired = %d, %v; want 0", n, err)
	}
}

func testPurgeBoundary(t *testing.T, st sessionstore.Store) {
	now := time.Now()
	RegisterAll(t, st, []sessionstore.Session{
		Session("at-now", now, now),
		Session("after-now", now, now.Add(1)),
		Session("before-now", now, now.Add(-1)),
	})
	n, err := st.PurgeExpired(bg, now)
	if err != nil || n != 2 {
		t.Errorf("PurgeExpired = %d, %v; want 2 (ExpiresAt <= now)", n, err)
	}
	got, err := st.List(bg, sessionstore.Filter{IncludeExpired: true})
	if err != nil || !equalStrings(ids(got), []string{"after-now"}) {
		t.Errorf("List after purge = %v, %v; want [after-now]", ids(got), err)
	}
}

func testPurgeRevocations(t *testing.T, st sessionstore.Store) {
	now := time.Now()
	old := sessionstore.Revocation{ID: "old", Kind: sessionstore.KindSubject, Value: "x", At: now.Add(-10 * 366 * 24 * time.Hour)}
	recent := sessionstore.Revocation{ID: "recent", Kind: sessionstore.KindSubject, Value: "x", At: now}
	for _, r := range []sessionstore.Revocation{old, recent} {
		if err := st.Revoke(bg, r); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.PurgeExpired(bg, now); err != nil {
		t.Fatal(err)
	}
	rs, err := st.Revocations(bg)
	if err != nil || len(rs) != 1 || rs[0].ID != "recent" {
		t.Errorf("Revocations after purge = %+v, %v; want just the recent one", rs, err)
	}
}

func testConcurrentRegister(t *testing.T, st sessionstore.Store) {
	const goroutines, each = 64, 200
	now := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				s := Session(fmt.Sprintf("g%02d-%03d", g, i), now, now.Add(time.Hour+time.Duration(i)*time.Second))
				if err := st.Register(bg, s); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("Register: %v", err)
	}
	got, err := st.List(bg, sessionstore.Filter{})
	if err != nil || len(got) != goroutines*each {
		t.Fatalf("List = %d sessions, %v; want %d", len(got), err, goroutines*each)
	}
	seen := make(map[string]bool, len(got))
	for _, s := range got {
		seen[s.ID] = true
	}
	for g := range goroutines {
		for i := range each {
			id := fmt.Sprintf("g%02d-%03d", g, i)
			if !seen[id] {
				t.Fatalf("%s missing", id)
			}
		}
	}
	if s, ok, err := st.Get(bg, "g63-199"); err != nil || !ok || s.AccessKeyID != "AKg63-199" {
		t.Errorf("Get = %+v, %v, %v", s, ok, err)
	}
}

// testConcurrentMixed runs every operation at once (meaningful under -race).
func testConcurrentMixed(t *testing.T, st sessionstore.Store) {
	now := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	report := func(err error) {
		if err != nil {
			select {
			case errs <- err:
			default:
			}
		}
	}
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 100 {
				exp := now.Add(time.Duration(i%3-1) * time.Minute)
				report(st.Register(bg, Session(fmt.Sprintf("m%d-%d", w, i), now, exp)))
			}
		}()
	}
	wg.Add(3)
	go func() {
		defer wg.Done()
		for range 20 {
			_, err := st.List(bg, sessionstore.Filter{Limit: 50})
			report(err)
			_, _, err = st.Get(bg, "m1-1")
			report(err)
		}
	}()
	go func() {
		defer wg.Done()
		for range 10 {
			_, err := st.PurgeExpired(bg, now)
			report(err)
		}
	}()
	go func() {
		defer wg.Done()
		for i := range 10 {
			report(st.Revoke(bg, sessionstore.Revocation{Kind: sessionstore.KindSubject, Value: fmt.Sprint(i), At: now}))
			_, err := st.Revocations(bg)
			report(err)
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent operation: %v", err)
	}
	if _, err := st.PurgeExpired(bg, now); err != nil {
		t.Fatal(err)
	}
	got, err := st.List(bg, sessionstore.Filter{IncludeExpired: true})
	if err != nil {
		t.Fatal(err)
	}
	// i%3 == 2 expire a minute after now and survive the purge.
	if want := 8 * 33; len(got) != want {
		t.Errorf("after purge: %d sessions; want %d", len(got), want)
	}
}

func testCancelled(t *testing.T, st sessionstore.Store) {
	ctx, cancel := context.WithCancel(bg)
	cancel()
	now := time.Now()
	if err := st.Register(ctx, Session("c", now, now.Add(time.Hour))); !errors.Is(err, context.Canceled) {
		t.Errorf("Register = %v; want context.Canceled", err)
	}
	if _, _, err := st.Get(ctx, "c"); !errors.Is(err, context.Canceled) {
		t.Errorf("Get = %v; want context.Canceled", err)
	}
	if _, err := st.List(ctx, sessionstore.Filter{}); !errors.Is(err, context.Canceled) {
		t.Errorf("List = %v; want context.Canceled", err)
	}
	if err := st.Revoke(ctx, sessionstore.Revocation{Kind: sessionstore.KindAll, At: now}); !errors.Is(err, context.Canceled) {
		t.Errorf("Revoke = %v; want context.Canceled", err)
	}
	if _, err := st.Revocations(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Revocations = %v; want context.Canceled", err)
	}
	if _, err := st.PurgeExpired(ctx, now); !errors.Is(err, context.Canceled) {
		t.Errorf("PurgeExpired = %v; want context.Canceled", err)
	}
}

func testClosed(t *testing.T, st sessionstore.Store) {
	now := time.Now()
	if err := st.Register(bg, Session("x", now, now.Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := st.Close(); err != nil {
		t.Errorf("second Close = %v; want nil", err)
	}
	if err := st.Register(bg, Session("y", now, now.Add(time.Hour))); !errors.Is(err, sessionstore.ErrClosed) {
		t.Errorf("Register = %v; want ErrClosed", err)
	}
	if _, _, err := st.Get(bg, "x"); !errors.Is(err, sessionstore.ErrClosed) {
		t.Errorf("Get = %v; want ErrClosed", err)
	}
	if _, err := st.List(bg, sessionstore.Filter{}); !errors.Is(err, sessionstore.ErrClosed) {
		t.Errorf("List = %v; want ErrClosed", err)
	}
	if err := st.Revoke(bg, sessionstore.Revocation{Kind: sessionstore.KindAll, At: now}); !errors.Is(err, sessionstore.ErrClosed) {
		t.Errorf("Revoke = %v; want ErrClosed", err)
	}
	if _, err := st.Revocations(bg); !errors.Is(err, sessionstore.ErrClosed) {
		t.Errorf("Revocations = %v; want ErrClosed", err)
	}
	if _, err := st.PurgeExpired(bg, now); !errors.Is(err, sessionstore.ErrClosed) {
		t.Errorf("PurgeExpired = %v; want ErrClosed", err)
	}
}
