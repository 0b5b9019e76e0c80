package sessionstore_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opa-sts/opa-sts/internal/sessionstore"
	"github.com/opa-sts/opa-sts/internal/sessionstore/sessionstoretest"
)

var bg = context.Background()

// testStore runs the shared conformance suite against one backend.
func testStore(t *testing.T, newStore func(t *testing.T) sessionstore.Store) {
	sessionstoretest.Run(t, newStore)
}

func TestMemoryConformance(t *testing.T) {
	testStore(t, func(t *testing.T) sessionstore.Store { return sessionstore.NewMemory() })
}

func openTestBolt(t *testing.T, path string) *sessionstore.Bolt {
	t.Helper()
	b, err := sessionstore.OpenBolt(path, sessionstore.BoltOptions{NoSync: true})
	if err != nil {
		t.Fatalf("OpenBolt: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func TestBoltConformance(t *testing.T) {
	testStore(t, func(t *testing.T) sessionstore.Store {
		return openTestBolt(t, filepath.Join(t.TempDir(), "sessions.db"))
	})
}

func TestBoltConformanceSynced(t *testing.T) {
	testStore(t, func(t *testing.T) sessionstore.Store {
		b, err := sessionstore.OpenBolt(filepath.Join(t.TempDir(), "sessions.db"), sessionstore.BoltOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return b
	})
}

func TestBoltReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sessions.db")
	now := time.Now()
	st, err := sessionstore.OpenBolt(path, sessionstore.BoltOptions{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	live := sessionstoretest.Session("live", now, now.Add(time.Hour))
	dead := sessionstoretest.Session("dead", now, now.Add(-time.Minute))
	sessionstoretest.RegisterAll(t, st, []sessionstore.Session{live, dead})
	rev := sessionstore.Revocation{ID: "r1", Kind: sessionstore.KindIssuer, Value: "https://idp", At: now, Reason: "compromised", CreatedAt: now}
	if err := st.Revoke(bg, rev); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	st = openTestBolt(t, path)
	got, ok, err := st.Get(bg, "live")
	if err != nil || !ok || !sessionstoretest.SameSession(got, live) {
		t.Errorf("Get after reopen = %+v, %v, %v; want %+v", got, ok, err, live)
	}
	list, err := st.List(bg, sessionstore.Filter{IncludeExpired: true})
	if err != nil || len(list) != 2 || list[0].ID != "dead" || list[1].ID != "live" {
		t.Errorf("List after reopen = %+v, %v", list, err)
	}
	rs, err := st.Revocations(bg)
	if err != nil || len(rs) != 1 || rs[0].ID != "r1" || !rs[0].At.Equal(now) || rs[0].Reason != "compromised" {
		t.Errorf("Revocations after reopen = %+v, %v", rs, err)
	}
	// The expiry index survived too.
	if n, err := st.PurgeExpired(bg, now); err != nil || n != 1 {
		t.Errorf("PurgeExpired after reopen = %d, %v; want 1", n, err)
	}
}

func TestBoltPermissions(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state", "sessions")
	path := filepath.Join(dir, "sessions.db")
	openTestBolt(t, path)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("file mode %o; want 600", perm)
	}
	for _, d := range []string{dir, filepath.Dir(dir)} {
		di, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if perm := di.Mode().Perm(); perm != 0o700 {
			t.Errorf("directory %s mode %o; want 700", d, perm)
		}
	}
}

func TestBoltLockedFileTimesOut(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sessions.db")
	openTestBolt(t, path)
	start := time.Now()
	done := make(chan error, 1)
	go func() {
		b, err := sessionstore.OpenBolt(path, sessionstore.BoltOptions{Timeout: 200 * time.Millisecond})
		if err == nil {
			_ = b.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "locked") {
			t.Errorf("second OpenBolt = %v; want a lock timeout", err)
		}
		if d := time.Since(start); d < 100*time.Millisecond {
			t.Errorf("second OpenBolt failed after %s; want it to wait about the timeout", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("second OpenBolt hangs")
	}
}

func TestBoltClosedReleasesLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sessions.db")
	b, err := sessionstore.OpenBolt(path, sessionstore.BoltOptions{NoSync: true, Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b2, err := sessionstore.OpenBolt(path, sessionstore.BoltOptions{NoSync: true, Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatalf("reopen after Close: %v", err)
	}
	_ = b2.Close()
}

func TestBoltNotADatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "garbage.db")
	if err := os.WriteFile(path, []byte(strings.Repeat("not a bolt file\n", 1000)), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, err := sessionstore.OpenBolt(path, sessionstore.BoltOptions{Timeout: 100 * time.Millisecond}); err == nil {
		_ = b.Close()
		t.Fatal("OpenBolt on garbage succeeded")
	}
}

// TestCloseWhileRegistering: Close waits for registrations in flight; the
// ones that lose the race get ErrClosed, never another error or a hang.
func TestCloseWhileRegistering(t *testing.T) {
	for name, open := range map[string]func(t *testing.T) sessionstore.Store{
		"memory": func(t *testing.T) sessionstore.Store { return sessionstore.NewMemory() },
		"bolt": func(t *testing.T) sessionstore.Store {
			return openTestBolt(t, filepath.Join(t.TempDir(), "s.db"))
		},
	} {
		t.Run(name, func(t *testing.T) {
			st := open(t)
			now := time.Now()
			var wg sync.WaitGroup
			errs := make(chan error, 64)
			for g := range 16 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; ; i++ {
						err := st.Register(bg, sessionstoretest.Session(fmt.Sprintf("%d-%d", g, i), now, now.Add(time.Hour)))
						if err != nil {
							if !errors.Is(err, sessionstore.ErrClosed) {
								errs <- err
							}
							return
						}
					}
				}()
			}
			time.Sleep(50 * time.Millisecond)
			if err := st.Close(); err != nil {
				t.Fatal(err)
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Errorf("Register during Close: %v", err)
			}
		})
	}
}

func TestMaxSessionLifetime(t *testing.T) {
	now := time.Now()
	for name, st := range map[string]sessionstore.Store{
		"memory": sessionstore.NewMemoryWith(sessionstore.MemoryOptions{MaxSessionLifetime: 12 * time.Hour}),
		"bolt": func() sessionstore.Store {
			b, err := sessionstore.OpenBolt(filepath.Join(t.TempDir(), "s.db"), sessionstore.BoltOptions{NoSync: true, MaxSessionLifetime: 12 * time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			return b
		}(),
	} {
		t.Run(name, func(t *testing.T) {
			defer st.Close()
			s := sessionstoretest.Session("ok", now, now)
			s.ExpiresAt = s.IssuedAt.Add(12 * time.Hour)
			if err := st.Register(bg, s); err != nil {
				t.Errorf("Register 12h session = %v; want nil", err)
			}
			s.ID = "long"
			s.ExpiresAt = s.ExpiresAt.Add(time.Second)
			if err := st.Register(bg, s); !errors.Is(err, sessionstore.ErrInvalid) {
				t.Errorf("Register 12h+1s session = %v; want ErrInvalid", err)
			}
			// Revocations older than now - 12h go at the next purge.
			for id, at := range map[string]time.Time{"stale": now.Add(-12*time.Hour - time.Second), "kept": now.Add(-12*time.Hour + time.Second)} {
				if err := st.Revoke(bg, sessionstore.Revocation{ID: id, Kind: sessionstore.KindSubject, Value: "x", At: at}); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := st.PurgeExpired(bg, now); err != nil {
				t.Fatal(err)
			}
			rs, err := st.Revocations(bg)
			if err != nil || len(rs) != 1 || rs[0].ID != "kept" {
				t.Errorf("Revocations after purge = %+v, %v; want [kept]", rs, err)
			}
		})
	}
}

func TestRevokeAndApply(t *testing.T) {
	st := sessionstore.NewMemory()
	defer st.Close()
	v := sessionstore.NewRevocationView()
	now := time.Now()
	r, err := sessionstore.RevokeAndApply(bg, st, v, sessionstore.Revocation{Kind: sessionstore.KindSubject, Value: "alice", At: now}, now)
	if err != nil || r.ID == "" || !r.CreatedAt.Equal(now) {
		t.Fatalf("RevokeAndApply = %+v, %v", r, err)
	}
	if !v.IsRevoked(sessionstore.Session{Subject: "alice", IssuedAt: now}) {
		t.Errorf("view not updated")
	}
	rs, _ := st.Revocations(bg)
	if len(rs) != 1 || rs[0].ID != r.ID {
		t.Errorf("store holds %+v; want the prepared entry %s", rs, r.ID)
	}
	if _, err := sessionstore.RevokeAndApply(bg, st, v, sessionstore.Revocation{Kind: "nope", Value: "x", At: now}, now); !errors.Is(err, sessionstore.ErrInvalid) {
		t.Errorf("invalid entry: %v", err)
	}
}

// fakeStore counts purges and can fail or panic.
type fakeStore struct {
	sessionstore.Store
	mu     sync.Mutex
	calls  int
	nows   []time.Time
	result func(call int) (int, error)
}

func (f *fakeStore) PurgeExpired(ctx context.Context, now time.Time) (int, error) {
	f.mu.Lock()
	f.calls++
	call := f.calls
	f.nows = append(f.nows, now)
	f.mu.Unlock()
	return f.result(call)
}

func (f *fakeStore) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

type logs struct {
	mu    sync.Mutex
	lines []string
}

func (l *logs) logf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
}

func (l *logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

func TestRunPurger(t *testing.T) {
	fs := &fakeStore{result: func(call int) (int, error) {
		switch call {
		case 1:
			return 7, nil
		case 2:
			return 0, errors.New("disk on fire")
		case 3:
			panic("boom")
		}
		return 0, nil
	}}
	var l logs
	ctx, cancel := context.WithCancel(bg)
	fixed := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	done := make(chan struct{})
	go func() {
		defer close(done)
		sessionstore.RunPurger(ctx, fs, time.Millisecond, func() time.Time { return fixed }, l.logf)
	}()
	deadline := time.Now().Add(5 * time.Second)
	for fs.count() < 5 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("RunPurger did not return after cancel")
	}
	if fs.count() < 5 {
		t.Fatalf("PurgeExpired called %d times", fs.count())
	}
	out := l.String()
	for _, want := range []string{"purged 7 expired sessions", "disk on fire", "panic in PurgeExpired: boom"} {
		if !strings.Contains(out, want) {
			t.Errorf("logs lack %q:\n%s", want, out)
		}
	}
	for _, n := range fs.nows {
		if !n.Equal(fixed) {
			t.Errorf("PurgeExpired got now=%v; want the injected clock", n)
		}
	}
}

func TestRunPurgerRealStore(t *testing.T) {
	st := sessionstore.NewMemory()
	now := time.Now()
	sessionstoretest.RegisterAll(t, st, []sessionstore.Session{
		sessionstoretest.Session("dead", now, now.Add(-time.Minute)),
		sessionstoretest.Session("live", now, now.Add(time.Hour)),
	})
	ctx, cancel := context.WithCancel(bg)
	done := make(chan struct{})
	go func() {
		defer close(done)
		sessionstore.RunPurger(ctx, st, time.Hour, nil, nil) // first purge runs at once
	}()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, ok, _ := st.Get(bg, "dead"); !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("expired session not purged")
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	<-done
	// A closed store stops the purger.
	var l logs
	_ = st.Close()
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		sessionstore.RunPurger(bg, st, time.Millisecond, nil, l.logf)
	}()
	select {
	case <-finished:
	case <-time.After(5 * time.Second):
		t.Fatal("RunPurger kept running on a closed store")
	}
	if !strings.Contains(l.String(), "closed") {
		t.Errorf("logs = %q; want a closed-store line", l.String())
	}
}
