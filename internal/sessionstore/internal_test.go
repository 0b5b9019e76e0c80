package sessionstore

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func TestCodecRoundTrip(t *testing.T) {
	base := time.Date(2026, 11, 28, 20, 26, 12, 123456789, time.FixedZone("X", 3600))
	cases := []Session{
		{ID: "a", AccessKeyID: "AK", IssuedAt: base, ExpiresAt: base.Add(time.Hour)},
		{
			ID: "b", AccessKeyID: "AKIA0123456789ABCDEF", Subject: "alice", Issuer: "https://idp/realms/é",
			IdPSubject: "", ClientID: "cli", Action: "AssumeRoleWithWebIdentity",
			IssuedAt: time.Unix(1, 999999999), ExpiresAt: time.Unix(1<<40, 1),
			Revision: strings.Repeat("r", 300), SourceIP: "2001:db8::1",
		},
		{ID: "c", AccessKeyID: "AK", IssuedAt: time.Unix(-5, 7), ExpiresAt: time.Unix(3, 0)},
	}
	for _, s := range cases {
		b := encodeSession(s)
		got, err := decodeSession(s.ID, b)
		if err != nil {
			t.Fatalf("%s: decode: %v", s.ID, err)
		}
		want := s
		want.IssuedAt, want.ExpiresAt = s.IssuedAt.UTC(), s.ExpiresAt.UTC()
		if got != want {
			t.Errorf("%s: round trip = %+v\nwant %+v", s.ID, got, want)
		}
		// Every truncation is detected, as is trailing garbage.
		for i := range b {
			if _, err := decodeSession(s.ID, b[:i]); err == nil {
				t.Errorf("%s: truncated to %d bytes decoded", s.ID, i)
			}
		}
		if _, err := decodeSession(s.ID, append(b, 0)); err == nil {
			t.Errorf("%s: trailing byte decoded", s.ID)
		}
	}
	if _, err := decodeSession("x", []byte{2, 0}); err == nil || !strings.Contains(err.Error(), "version 2") {
		t.Errorf("unknown version: %v", err)
	}
	// Compactness, against JSON.
	now := time.Now()
	typical := Session{
		ID: "x2uX0bXv1wq9jvW5bKx0xg", AccessKeyID: "Q0J8Z4YF7N2K5T1W3R6M", Subject: "svc-backup",
		Issuer: "https://keycloak.example.com/realms/prod", IdPSubject: "4f6c1a3e-9d2b-4c1e-8f7a-2b3c4d5e6f70",
		ClientID: "backup-agent", Action: "AssumeRoleWithClientGrants", IssuedAt: now, ExpiresAt: now.Add(time.Hour),
		Revision: "2026-11-28T20:00:00Z-abc123", SourceIP: "10.1.2.3",
	}
	j, _ := json.Marshal(typical)
	t.Logf("typical record: %d bytes binary (+%d key), %d bytes JSON", len(encodeSession(typical)), len(typical.ID), len(j))
}

func FuzzDecodeSession(f *testing.F) {
	now := time.Unix(1700000000, 5)
	f.Add(encodeSession(Session{ID: "a", AccessKeyID: "AK", Subject: "s", IssuedAt: now, ExpiresAt: now.Add(time.Hour)}))
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := decodeSession("id", b)
		if err != nil {
			return
		}
		// What decodes survives a re-encoding (the bytes may differ: a
		// varint may be written non-minimally).
		again, err := decodeSession("id", encodeSession(s))
		if err != nil || again != s {
			t.Errorf("re-encoding round trip = %+v, %v; want %+v", again, err, s)
		}
	})
}

func TestMatches(t *testing.T) {
	at := time.Date(2026, 1, 1, 0, 0, 0, 500, time.UTC)
	s := Session{ID: "sid", Subject: "alice", Issuer: "iss", ClientID: "cli"}
	kinds := []struct {
		kind  RevocationKind
		value string
	}{
		{KindSession, "sid"}, {KindSubject, "alice"}, {KindIssuer, "iss"}, {KindClient, "cli"}, {KindAll, ""},
	}
	for _, k := range kinds {
		r := Revocation{Kind: k.kind, Value: k.value, At: at}
		for _, c := range []struct {
			issued time.Time
			want   bool
		}{{at.Add(-time.Hour), true}, {at.Add(-1), true}, {at, true}, {at.Add(1), false}} {
			s.IssuedAt = c.issued
			if got := r.Matches(s); got != c.want {
				t.Errorf("%s: Matches(issued At%+v) = %v; want %v", k.kind, c.issued.Sub(at), got, c.want)
			}
		}
		if k.kind == KindAll {
			continue
		}
		// Another value never matches; nor does an empty attribute.
		r.Value = "other"
		s.IssuedAt = at.Add(-time.Hour)
		if r.Matches(s) {
			t.Errorf("%s: other value matches", k.kind)
		}
		r.Value = ""
		if r.Matches(Session{IssuedAt: at.Add(-time.Hour)}) {
			t.Errorf("%s: empty value matches empty attribute", k.kind)
		}
	}
	// Kinds select their own attribute only.
	r := Revocation{Kind: KindSubject, Value: "sid", At: at}
	s.IssuedAt = at
	if r.Matches(s) {
		t.Errorf("subject revocation matched the session id")
	}
	if (Revocation{Kind: "bogus", Value: "alice", At: at}).Matches(s) {
		t.Errorf("unknown kind matched")
	}
}

func TestPrepareRevocation(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("X", 7200))
	r, err := PrepareRevocation(Revocation{Kind: KindAll, At: now}, now)
	if err != nil || len(r.ID) != 32 || !r.CreatedAt.Equal(now) || r.CreatedAt.Location() != time.UTC || r.At.Location() != time.UTC {
		t.Fatalf("PrepareRevocation = %+v, %v", r, err)
	}
	again, err := PrepareRevocation(r, now.Add(time.Hour))
	if err != nil || again != r {
		t.Errorf("PrepareRevocation not idempotent: %+v", again)
	}
}

func TestViewBasics(t *testing.T) {
	var v RevocationView // zero value works
	at := time.Unix(1000, 0)
	s := Session{ID: "sid", Subject: "alice", Issuer: "iss", ClientID: "cli", IssuedAt: at}
	if v.IsRevoked(s) || v.Len() != 0 {
		t.Fatal("empty view revokes")
	}
	// Invalid entries are ignored.
	v.Add(Revocation{Kind: "bogus", Value: "alice", At: at})
	v.Add(Revocation{Kind: KindSubject, At: at})
	v.Add(Revocation{Kind: KindSubject, Value: "alice"})
	v.Load([]Revocation{{Kind: KindClient, At: at}})
	if v.IsRevoked(s) || v.Len() != 0 {
		t.Fatal("invalid entries taken")
	}
	// Empty session attributes never match.
	v.Add(Revocation{Kind: KindSubject, Value: "alice", At: at})
	if v.IsRevoked(Session{IssuedAt: at}) {
		t.Error("session without attributes revoked")
	}
	if !v.IsRevoked(s) {
		t.Error("subject revocation missed")
	}
	s.IssuedAt = at.Add(1)
	if v.IsRevoked(s) {
		t.Error("session issued after At revoked")
	}
	// Latest At wins, whatever the order.
	v.Add(Revocation{Kind: KindSubject, Value: "alice", At: at.Add(10)})
	v.Add(Revocation{Kind: KindSubject, Value: "alice", At: at.Add(5)})
	s.IssuedAt = at.Add(10)
	if !v.IsRevoked(s) {
		t.Error("later revocation did not win")
	}
	s.IssuedAt = at.Add(11)
	if v.IsRevoked(s) {
		t.Error("revoked after the latest At")
	}
	if v.Len() != 1 {
		t.Errorf("Len = %d; want 1", v.Len())
	}
	// "all".
	v.Add(Revocation{Kind: KindAll, At: at.Add(20)})
	v.Add(Revocation{Kind: KindAll, At: at.Add(15)})
	other := Session{ID: "zzz", IssuedAt: at.Add(20)}
	if !v.IsRevoked(other) {
		t.Error("all: not revoked at At")
	}
	other.IssuedAt = at.Add(21)
	if v.IsRevoked(other) {
		t.Error("all: revoked after At")
	}
	if v.Len() != 2 {
		t.Errorf("Len = %d; want 2", v.Len())
	}
}

// reference is the obvious model: every entry kept.
type reference []Revocation

func (ref reference) isRevoked(s Session) bool {
	for _, r := range ref {
		if r.Matches(s) {
			return true
		}
	}
	return false
}

func randomRevocation(rng *rand.Rand, base time.Time, keys int) Revocation {
	kinds := []RevocationKind{KindSession, KindSubject, KindIssuer, KindClient, KindAll}
	k := kinds[rng.IntN(len(kinds))]
	if k == KindAll && rng.IntN(20) != 0 {
		k = KindSubject
	}
	r := Revocation{Kind: k, At: base.Add(time.Duration(rng.IntN(1000)))}
	if k != KindAll {
		r.Value = fmt.Sprint(rng.IntN(keys))
	}
	return r
}

func randomSession(rng *rand.Rand, base time.Time, keys int) Session {
	v := func() string {
		if rng.IntN(10) == 0 {
			return ""
		}
		return fmt.Sprint(rng.IntN(keys))
	}
	return Session{ID: v(), Subject: v(), Issuer: v(), ClientID: v(), IssuedAt: base.Add(time.Duration(rng.IntN(1100) - 50))}
}

// TestViewAgainstReference checks the view against the naive model with
// many entries per key, through Add (crossing delta merges), Load and
// Prune.
func TestViewAgainstReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	base := time.Unix(1_700_000_000, 0)
	for _, keys := range []int{3, 50, 5000} {
		var (
			v   RevocationView
			ref reference
		)
		check := func(stage string) {
			t.Helper()
			for range 2000 {
				s := randomSession(rng, base, keys)
				if got, want := v.IsRevoked(s), ref.isRevoked(s); got != want {
					t.Fatalf("keys=%d %s: IsRevoked(%+v) = %v; want %v", keys, stage, s, got, want)
				}
			}
		}
		for i := range 20000 {
			r := randomRevocation(rng, base, keys)
			v.Add(r)
			ref = append(ref, r)
			if i%2500 == 0 {
				check(fmt.Sprintf("after %d adds", i+1))
			}
		}
		check("after adds")
		batch := make([]Revocation, 3000)
		for i := range batch {
			batch[i] = randomRevocation(rng, base.Add(200), keys)
		}
		v.Load(batch)
		ref = append(ref, batch...)
		check("after load")
		for range 300 { // adds on top of a loaded base
			r := randomRevocation(rng, base.Add(400), keys)
			v.Add(r)
			ref = append(ref, r)
		}
		check("after more adds")
		cutoff := base.Add(900)
		v.Prune(cutoff)
		var kept reference
		for _, r := range ref {
			if !r.At.Before(cutoff) {
				kept = append(kept, r)
			}
		}
		ref = kept
		check("after prune")
		// Len counts distinct keys.
		distinct := map[[2]string]bool{}
		for _, r := range ref {
			distinct[[2]string{string(r.Kind), r.Value}] = true
		}
		if v.Len() != len(distinct) {
			t.Errorf("keys=%d: Len = %d; want %d", keys, v.Len(), len(distinct))
		}
	}
}

func TestViewConcurrent(t *testing.T) {
	var v RevocationView
	base := time.Unix(1_700_000_000, 0)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 9))
			for i := range 3000 {
				v.Add(randomRevocation(rng, base, 1000))
				if i%500 == 0 {
					v.Load([]Revocation{randomRevocation(rng, base, 1000), randomRevocation(rng, base, 1000)})
				}
			}
		}()
	}
	var readers sync.WaitGroup
	for w := range 4 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for {
				select {
				case <-stop:
					return
				default:
				}
				v.IsRevoked(randomSession(rng, base, 1000))
				_ = v.Len()
			}
		}()
	}
	// A revocation, once added, is seen by every later read.
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range 2000 {
			key := fmt.Sprintf("monotonic-%d", i)
			v.Add(Revocation{Kind: KindClient, Value: key, At: base})
			if !v.IsRevoked(Session{ClientID: key, IssuedAt: base}) {
				t.Errorf("%s not visible after Add", key)
				return
			}
		}
	}()
	wg.Wait()
	close(stop)
	readers.Wait()
}

// TestBoltPurgeChunked checks that a purge of 5,000 expired sessions uses
// bounded write transactions, walks only the expired prefix, and leaves the
// live sessions alone.
func TestBoltPurgeChunked(t *testing.T) {
	b, err := OpenBolt(filepath.Join(t.TempDir(), "s.db"), BoltOptions{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := context.Background()
	now := time.Now()
	const expired, live = 5000, 100
	// Insert in one transaction: this test is about purging.
	err = b.db.Update(func(tx *bolt.Tx) error {
		for i := range expired + live {
			exp := now.Add(-time.Duration(i+1) * time.Second)
			if i >= expired {
				exp = now.Add(time.Duration(i) * time.Second)
			}
			s := Session{ID: fmt.Sprintf("s%05d", i), AccessKeyID: "AK", IssuedAt: now.Add(-2 * time.Hour), ExpiresAt: exp}
			if err := putSession(tx, s.ID, []byte(s.ID), encodeSession(s), expiryKey(s.ExpiresAt, s.ID)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	n, err := b.PurgeExpired(ctx, now)
	if err != nil || n != expired {
		t.Fatalf("PurgeExpired = %d, %v; want %d", n, err, expired)
	}
	if txs := b.purgeTxs.Load(); txs < expired/boltPurgeChunk || txs > expired/boltPurgeChunk+1 {
		t.Errorf("purge used %d write transactions; want %d or %d chunks of %d", txs, expired/boltPurgeChunk, expired/boltPurgeChunk+1, boltPurgeChunk)
	}
	var sessions, index int
	_ = b.db.View(func(tx *bolt.Tx) error {
		sessions = tx.Bucket(bucketSessions).Stats().KeyN
		index = tx.Bucket(bucketExpiry).Stats().KeyN
		return nil
	})
	if sessions != live || index != live {
		t.Errorf("after purge: %d sessions, %d index entries; want %d each", sessions, index, live)
	}
	// A purge with nothing expired takes one short transaction.
	before := b.purgeTxs.Load()
	if n, err := b.PurgeExpired(ctx, now); err != nil || n != 0 || b.purgeTxs.Load() != before+1 {
		t.Errorf("idle purge = %d, %v, %d transactions", n, err, b.purgeTxs.Load()-before)
	}
	// Cancelling stops between chunks.
	b.purgeChunkSize = 10
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := b.PurgeExpired(cctx, now.Add(time.Hour*24*365)); err == nil {
		t.Errorf("cancelled purge succeeded")
	}
}

// TestBoltStaleIndexEntry: an index entry that disagrees with its record
// (which Register never leaves behind, but a crash-free invariant is cheap
// to defend) neither lists the session twice nor purges a live record.
func TestBoltStaleIndexEntry(t *testing.T) {
	b, err := OpenBolt(filepath.Join(t.TempDir(), "s.db"), BoltOptions{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := context.Background()
	now := time.Now()
	s := Session{ID: "x", AccessKeyID: "AK", IssuedAt: now.Add(-time.Hour), ExpiresAt: now.Add(time.Hour)}
	if err := b.Register(ctx, s); err != nil {
		t.Fatal(err)
	}
	_ = b.db.Update(func(tx *bolt.Tx) error {
		_ = tx.Bucket(bucketExpiry).Put(expiryKey(now.Add(-time.Minute), "x"), []byte{})
		return tx.Bucket(bucketExpiry).Put(expiryKey(now.Add(time.Minute), "x"), []byte{})
	})
	got, err := b.List(ctx, Filter{IncludeExpired: true})
	if err != nil || len(got) != 1 {
		t.Errorf("List = %v, %v; want the session once", got, err)
	}
	if n, err := b.PurgeExpired(ctx, now); err != nil || n != 0 {
		t.Errorf("PurgeExpired = %d, %v; want 0", n, err)
	}
	if _, ok, _ := b.Get(ctx, "x"); !ok {
		t.Error("live session purged through a stale index entry")
	}
}

func TestChainRevoked(t *testing.T) {
	v := NewRevocationView()
	at := time.Unix(1_700_000_000, 0)
	v.Load([]Revocation{{Kind: KindSession, Value: "root-session", At: at}})
	if !v.ChainRevoked([]string{"root-session", "child"}, at.Add(-time.Minute)) {
		t.Error("a session chained from a revoked one is not revoked")
	}
	if v.ChainRevoked([]string{"other"}, at.Add(-time.Minute)) || v.ChainRevoked(nil, at) {
		t.Error("an unrelated chain is revoked")
	}
	// A chained session cannot be issued after its source was revoked (the
	// source no longer signs); if one claimed to be, it is not revoked by it.
	if v.ChainRevoked([]string{"root-session"}, at.Add(time.Minute)) {
		t.Error("the revocation reaches into the future")
	}
}
