package sessionstore

import (
	"sync"
	"sync/atomic"
	"time"
)

// RevocationView is a local view of revocations, cheap enough to consult on
// every S3 request. It keeps, per (kind, value), only the latest At: a
// revocation at T supersedes every earlier one for the same key, since
// "issued at or before T" includes "issued at or before T' < T".
//
// Reads are lock-free: IsRevoked loads an immutable snapshot through an
// atomic pointer and does at most two map lookups per kind. Writers (Add,
// Load, Prune) are serialised by a mutex and publish a new snapshot. To
// keep Add cheap when the view is large, a snapshot is a large immutable
// base plus a small immutable delta; Add copies only the delta, and the delta
// is folded into a new base once it exceeds about sqrt(len(base)) entries
// (amortised O(sqrt n) per Add, one map copy per Load).
//
// The zero value is an empty view ready to use. Entries are never removed
// except by Prune: a view may hold revocations that a store has already
// purged, which is harmless (they only match expired sessions).
type RevocationView struct {
	mu   sync.Mutex // serialises writers
	snap atomic.Pointer[viewSnapshot]
}

// kind indexes of the per-kind maps.
const (
	idxSession = iota
	idxSubject
	idxIssuer
	idxClient
	numIdx
)

func kindIndex(k RevocationKind) int {
	switch k {
	case KindSession:
		return idxSession
	case KindSubject:
		return idxSubject
	case KindIssuer:
		return idxIssuer
	case KindClient:
		return idxClient
	}
	return -1
}

// viewSnapshot is immutable once published.
type viewSnapshot struct {
	hasAll   bool
	all      time.Time // latest "all" revocation
	base     [numIdx]map[string]time.Time
	delta    [numIdx]map[string]time.Time // values here are later than in base
	baseLen  int
	deltaLen int
}

// NewRevocationView returns an empty view.
func NewRevocationView() *RevocationView { return &RevocationView{} }

var emptySnapshot = &viewSnapshot{}

func (v *RevocationView) load() *viewSnapshot {
	if s := v.snap.Load(); s != nil {
		return s
	}
	return emptySnapshot
}

func (s *viewSnapshot) get(i int, key string) (time.Time, bool) {
	if t, ok := s.delta[i][key]; ok {
		return t, true
	}
	t, ok := s.base[i][key]
	return t, ok
}

func (s *viewSnapshot) revokedBy(i int, key string, issued time.Time) bool {
	if key == "" {
		return false
	}
	t, ok := s.get(i, key)
	return ok && !issued.After(t)
}

// IsRevoked reports whether any revocation in the view matches s. Only
// s.ID, Subject, Issuer, ClientID and IssuedAt are consulted.
func (v *RevocationView) IsRevoked(s Session) bool {
	snap := v.load()
	if snap.hasAll && !s.IssuedAt.After(snap.all) {
		return true
	}
	return snap.revokedBy(idxSession, s.ID, s.IssuedAt) ||
		snap.revokedBy(idxSubject, s.Subject, s.IssuedAt) ||
		snap.revokedBy(idxIssuer, s.Issuer, s.IssuedAt) ||
		snap.revokedBy(idxClient, s.ClientID, s.IssuedAt)
}

// ChainRevoked reports whether one of the sessions a session issued at
// issuedAt was assumed from (role chaining) is revoked by id: it was
// obtained with credentials that no longer count.
func (v *RevocationView) ChainRevoked(chain []string, issuedAt time.Time) bool {
	if len(chain) == 0 {
		return false
	}
	snap := v.load()
	for _, id := range chain {
		if snap.revokedBy(idxSession, id, issuedAt) {
			return true
		}
	}
	return false
}

// Len returns the number of distinct keys (kind, value) in the view,
// counting "all" as one key.
func (v *RevocationView) Len() int {
	s := v.load()
	n := s.baseLen + s.deltaLen
	if s.hasAll {
		n++
	}
	return n
}

// Add adds one revocation. Invalid entries (see Revocation.Validate) are
// ignored; an entry no later than the one already held for its key changes
// nothing.
func (v *RevocationView) Add(r Revocation) {
	if r.Validate() != nil {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	cur := v.load()
	if r.Kind == KindAll {
		if cur.hasAll && !r.At.After(cur.all) {
			return
		}
		next := *cur
		next.hasAll, next.all = true, r.At
		v.snap.Store(&next)
		return
	}
	i := kindIndex(r.Kind)
	old, ok := cur.get(i, r.Value)
	if ok && !r.At.After(old) {
		return
	}
	next := *cur
	_, inDelta := cur.delta[i][r.Value]
	d := make(map[string]time.Time, len(cur.delta[i])+1)
	for k, t := range cur.delta[i] {
		d[k] = t
	}
	d[r.Value] = r.At
	next.delta[i] = d
	if !inDelta {
		next.deltaLen++
		if _, inBase := cur.base[i][r.Value]; inBase {
			next.baseLen-- // counted once, in the delta, until the merge
		}
	}
	if next.deltaLen > deltaLimit(next.baseLen) {
		next.merge()
	}
	v.snap.Store(&next)
}

// deltaLimit is the delta size at which it is folded into the base.
func deltaLimit(baseLen int) int {
	l := 64
	for l*l < baseLen {
		l *= 2
	}
	return l
}

// merge folds the delta into fresh base maps (only for kinds that have a
// delta; the others keep sharing their base map). It reports which base
// maps are fresh, i.e. not shared with any published snapshot.
func (s *viewSnapshot) merge() (fresh [numIdx]bool) {
	for i := range numIdx {
		if len(s.delta[i]) == 0 {
			continue
		}
		b := make(map[string]time.Time, len(s.base[i])+len(s.delta[i]))
		for k, t := range s.base[i] {
			b[k] = t
		}
		for k, t := range s.delta[i] {
			b[k] = t
		}
		s.base[i] = b
		s.delta[i] = nil
		fresh[i] = true
	}
	s.baseLen += s.deltaLen
	s.deltaLen = 0
	return fresh
}

// Load adds many revocations at once (one new snapshot). It merges with
// what the view already holds; it never removes entries.
func (v *RevocationView) Load(rs []Revocation) {
	v.mu.Lock()
	defer v.mu.Unlock()
	cur := v.load()
	next := *cur
	fresh := next.merge() // base maps not shared with a published snapshot
	changed := false
	for _, r := range rs {
		if r.Validate() != nil {
			continue
		}
		if r.Kind == KindAll {
			if !next.hasAll || r.At.After(next.all) {
				next.hasAll, next.all, changed = true, r.At, true
			}
			continue
		}
		i := kindIndex(r.Kind)
		old, ok := next.base[i][r.Value]
		if ok && !r.At.After(old) {
			continue
		}
		if !fresh[i] {
			b := make(map[string]time.Time, len(next.base[i])+len(rs))
			for k, t := range next.base[i] {
				b[k] = t
			}
			next.base[i] = b
			fresh[i] = true
		}
		next.base[i][r.Value] = r.At
		if !ok {
			next.baseLen++
		}
		changed = true
	}
	if changed || next.deltaLen != cur.deltaLen {
		v.snap.Store(&next)
	}
}

// Prune removes entries whose At is before cutoff: they can only match
// sessions issued before cutoff, which have expired if cutoff is now minus
// the maximum session lifetime. It returns how many keys were removed.
func (v *RevocationView) Prune(cutoff time.Time) int {
	v.mu.Lock()
	defer v.mu.Unlock()
	cur := v.load()
	next := *cur
	next.merge()
	removed := 0
	if next.hasAll && next.all.Before(cutoff) {
		next.hasAll, next.all = false, time.Time{}
		removed++
	}
	for i := range numIdx {
		n := 0
		for _, t := range next.base[i] {
			if t.Before(cutoff) {
				n++
			}
		}
		if n == 0 {
			continue
		}
		b := make(map[string]time.Time, len(next.base[i])-n)
		for k, t := range next.base[i] {
			if !t.Before(cutoff) {
				b[k] = t
			}
		}
		next.base[i] = b
		next.baseLen -= n
		removed += n
	}
	if removed > 0 || next.deltaLen != cur.deltaLen {
		v.snap.Store(&next)
	}
	return removed
}
