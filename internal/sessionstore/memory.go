package sessionstore

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// MemoryOptions configures NewMemoryWith.
type MemoryOptions struct {
	// MaxSessionLifetime bounds ExpiresAt - IssuedAt in Register and decides
	// when revocations are purged. Zero means DefaultMaxSessionLifetime.
	MaxSessionLifetime time.Duration
}

// Memory is an in-memory Store: maps under a RWMutex. Nothing survives the
// process.
type Memory struct {
	maxLifetime time.Duration

	mu          sync.RWMutex
	closed      bool
	sessions    map[string]Session
	revocations map[string]Revocation
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty in-memory store with default options.
func NewMemory() *Memory { return NewMemoryWith(MemoryOptions{}) }

// NewMemoryWith returns an empty in-memory store.
func NewMemoryWith(opts MemoryOptions) *Memory {
	if opts.MaxSessionLifetime <= 0 {
		opts.MaxSessionLifetime = DefaultMaxSessionLifetime
	}
	return &Memory{
		maxLifetime: opts.MaxSessionLifetime,
		sessions:    make(map[string]Session),
		revocations: make(map[string]Revocation),
	}
}

// Register implements Store.
func (m *Memory) Register(ctx context.Context, in Session) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("sessionstore: register %s: %w", in.ID, err)
	}
	s, err := checkSession(in, m.maxLifetime)
	if err != nil {
		return fmt.Errorf("sessionstore: register %s: %w", in.ID, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return fmt.Errorf("sessionstore: register %s: %w", s.ID, ErrClosed)
	}
	m.sessions[s.ID] = s
	return nil
}

// Get implements Store.
func (m *Memory) Get(ctx context.Context, id string) (Session, bool, error) {
	if err := ctx.Err(); err != nil {
		return Session{}, false, fmt.Errorf("sessionstore: get %s: %w", id, err)
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return Session{}, false, fmt.Errorf("sessionstore: get %s: %w", id, ErrClosed)
	}
	s, ok := m.sessions[id]
	return s, ok, nil
}

// List implements Store.
func (m *Memory) List(ctx context.Context, f Filter) ([]Session, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("sessionstore: list: %w", err)
	}
	now := time.Now()
	m.mu.RLock()
	if m.closed {
		m.mu.RUnlock()
		return nil, fmt.Errorf("sessionstore: list: %w", ErrClosed)
	}
	var out []Session
	for _, s := range m.sessions {
		if f.match(s, now) {
			out = append(out, s)
		}
	}
	m.mu.RUnlock()
	sortSessions(out)
	if f.Limit > 0 && len(out) > f.Limit {
		out = out[:f.Limit:f.Limit]
	}
	return out, nil
}

// Revoke implements Store.
func (m *Memory) Revoke(ctx context.Context, r Revocation) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("sessionstore: revoke: %w", err)
	}
	r, err := PrepareRevocation(r, time.Now())
	if err != nil {
		return fmt.Errorf("sessionstore: revoke: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return fmt.Errorf("sessionstore: revoke %s: %w", r.ID, ErrClosed)
	}
	if old, ok := m.revocations[r.ID]; ok {
		if sameRevocation(old, r) {
			return nil
		}
		return fmt.Errorf("sessionstore: revoke %s: %w", r.ID, ErrConflict)
	}
	m.revocations[r.ID] = r
	return nil
}

// Revocations implements Store.
func (m *Memory) Revocations(ctx context.Context) ([]Revocation, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("sessionstore: revocations: %w", err)
	}
	m.mu.RLock()
	if m.closed {
		m.mu.RUnlock()
		return nil, fmt.Errorf("sessionstore: revocations: %w", ErrClosed)
	}
	out := make([]Revocation, 0, len(m.revocations))
	for _, r := range m.revocations {
		out = append(out, r)
	}
	m.mu.RUnlock()
	sortRevocations(out)
	return out, nil
}

// memoryPurgeChunk bounds how many sessions one write-locked step deletes.
const memoryPurgeChunk = 1000

// PurgeExpired implements Store. It finds expired sessions under the read
// lock and deletes them in chunks under the write lock, so registrations are
// never blocked for a whole scan.
func (m *Memory) PurgeExpired(ctx context.Context, now time.Time) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("sessionstore: purge: %w", err)
	}
	m.mu.RLock()
	if m.closed {
		m.mu.RUnlock()
		return 0, fmt.Errorf("sessionstore: purge: %w", ErrClosed)
	}
	var expired []string
	for id, s := range m.sessions {
		if s.Expired(now) {
			expired = append(expired, id)
		}
	}
	m.mu.RUnlock()

	removed := 0
	for len(expired) > 0 {
		if err := ctx.Err(); err != nil {
			return removed, fmt.Errorf("sessionstore: purge: %w", err)
		}
		chunk := expired[:min(memoryPurgeChunk, len(expired))]
		expired = expired[len(chunk):]
		m.mu.Lock()
		if m.closed {
			m.mu.Unlock()
			return removed, fmt.Errorf("sessionstore: purge: %w", ErrClosed)
		}
		for _, id := range chunk {
			// Re-check: the session may have been re-registered meanwhile.
			if s, ok := m.sessions[id]; ok && s.Expired(now) {
				delete(m.sessions, id)
				removed++
			}
		}
		m.mu.Unlock()
	}

	cutoff := now.Add(-m.maxLifetime)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return removed, fmt.Errorf("sessionstore: purge: %w", ErrClosed)
	}
	for id, r := range m.revocations {
		if r.At.Before(cutoff) {
			delete(m.revocations, id)
		}
	}
	return removed, nil
}

// Close implements Store.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	m.sessions, m.revocations = nil, nil
	return nil
}
