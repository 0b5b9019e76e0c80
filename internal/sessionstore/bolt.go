package sessionstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// On-disk layout of the Bolt store (one bbolt file):
//
//	meta         "layout" -> "1"
//	sessions     session ID -> session record (see codec.go: a versioned
//	             compact binary encoding, ~210 bytes for a typical session)
//	expiry       ExpiresAt as 8-byte big-endian unix nanoseconds || session
//	             ID -> empty. A secondary index: PurgeExpired walks only the
//	             expired prefix with a cursor; List walks the live part in
//	             (ExpiresAt, ID) order.
//	revocations  revocation ID -> JSON of Revocation (few, rarely written,
//	             human-readable; the same JSON an etcd backend can store)
//
// The index is kept exact by Register (re-registering an ID replaces its
// old index entry in the same transaction); readers nevertheless check that
// an index entry agrees with the record it points to and skip it if not.
var (
	bucketMeta        = []byte("meta")
	bucketSessions    = []byte("sessions")
	bucketExpiry      = []byte("expiry")
	bucketRevocations = []byte("revocations")
	keyLayout         = []byte("layout")
	layoutV1          = []byte("1")
)

// Defaults for BoltOptions.
const (
	// DefaultBoltMaxBatchSize bounds the registrations one commit takes.
	DefaultBoltMaxBatchSize = 1000
	// DefaultBoltTimeout is how long OpenBolt waits for the file lock.
	DefaultBoltTimeout = 2 * time.Second
	// boltPurgeChunk bounds the sessions deleted per write transaction.
	boltPurgeChunk = 1000
	// boltListChunk bounds the index entries read per read transaction, so
	// a long List never pins the mmap (bbolt cannot grow the file while a
	// read transaction is open).
	boltListChunk = 1000
)

// BoltOptions configures OpenBolt. Zero values mean the defaults.
type BoltOptions struct {
	// MaxBatchSize bounds how many waiting registrations one commit takes
	// (group commit: see Bolt).
	MaxBatchSize int
	// NoSync skips fsync: for tests only, a crash can corrupt the file.
	NoSync bool
	// Timeout is how long to wait for the file lock held by another
	// process (or another OpenBolt) before failing.
	Timeout time.Duration
	// MaxSessionLifetime bounds ExpiresAt - IssuedAt in Register and decides
	// when revocations are purged. Zero means DefaultMaxSessionLifetime.
	MaxSessionLifetime time.Duration
}

// Bolt is a Store in one bbolt file. Registrations use group commit: one
// committer writes every registration waiting when it starts a transaction
// (up to MaxBatchSize) and fsyncs once. Unlike bbolt's db.Batch, which holds
// each batch open for a fixed delay, a lone registration commits at once
// (one fsync of latency) and concurrent ones share commits, so throughput
// grows with load without a latency floor.
type Bolt struct {
	db             *bolt.DB
	path           string
	maxLifetime    time.Duration
	purgeChunkSize int
	maxBatch       int
	regs           chan registration
	committerDone  chan struct{}

	// mu is held for reading by every operation and for writing by Close,
	// so Close waits for operations in flight and later ones see closed.
	mu     sync.RWMutex
	closed bool

	purgeTxs atomic.Int64 // write transactions used by PurgeExpired (for tests)
}

var _ Store = (*Bolt)(nil)

// OpenBolt opens or creates the store at path. It creates the parent
// directory (0700) and the file (0600) if they do not exist; existing
// permissions are left alone. If another process (or another OpenBolt) holds
// the file, it fails after opts.Timeout.
func OpenBolt(path string, opts BoltOptions) (*Bolt, error) {
	if opts.MaxBatchSize <= 0 {
		opts.MaxBatchSize = DefaultBoltMaxBatchSize
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultBoltTimeout
	}
	if opts.MaxSessionLifetime <= 0 {
		opts.MaxSessionLifetime = DefaultMaxSessionLifetime
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("sessionstore: open %s: %w", path, err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout: opts.Timeout,
		NoSync:  opts.NoSync,
		// As etcd does: a hashmap freelist stays fast when purges free
		// many pages, and not writing the freelist makes every commit
		// smaller (it is rebuilt by scanning on open).
		FreelistType:   bolt.FreelistMapType,
		NoFreelistSync: true,
	})
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return nil, fmt.Errorf("sessionstore: open %s: file is locked by another process (waited %s): %w", path, opts.Timeout, err)
		}
		return nil, fmt.Errorf("sessionstore: open %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		switch v := meta.Get(keyLayout); {
		case v == nil:
			if err := meta.Put(keyLayout, layoutV1); err != nil {
				return err
			}
		case !bytes.Equal(v, layoutV1):
			return fmt.Errorf("unsupported layout version %q (this build reads %q)", v, layoutV1)
		}
		for _, name := range [][]byte{bucketSessions, bucketExpiry, bucketRevocations} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("sessionstore: open %s: %w", path, err)
	}
	b := &Bolt{
		db: db, path: path, maxLifetime: opts.MaxSessionLifetime, purgeChunkSize: boltPurgeChunk,
		maxBatch: opts.MaxBatchSize, regs: make(chan registration, 4*opts.MaxBatchSize), committerDone: make(chan struct{}),
	}
	go b.commit()
	return b, nil
}

// registration is one Register call waiting for its commit.
type registration struct {
	sid          string
	id, val, idx []byte
	done         chan error
}

// commit is the group committer: it runs until regs is closed.
func (b *Bolt) commit() {
	defer close(b.committerDone)
	batch := make([]registration, 0, b.maxBatch)
	for first := range b.regs {
		batch = append(batch[:0], first)
	drain:
		for len(batch) < b.maxBatch {
			select {
			case r, ok := <-b.regs:
				if !ok {
					break drain
				}
				batch = append(batch, r)
			default:
				break drain
			}
		}
		err := b.db.Update(func(tx *bolt.Tx) error {
			for _, r := range batch {
				if err := putSession(tx, r.sid, r.id, r.val, r.idx); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil && len(batch) > 1 {
			// One bad registration must not fail the others: retry alone.
			for _, r := range batch {
				r.done <- b.db.Update(func(tx *bolt.Tx) error { return putSession(tx, r.sid, r.id, r.val, r.idx) })
			}
			continue
		}
		for _, r := range batch {
			r.done <- err
		}
	}
}

// Path returns the file's path.
func (b *Bolt) Path() string { return b.path }

// begin takes the read side of b.mu; the caller must call b.mu.RUnlock if
// it returns nil.
func (b *Bolt) begin() error {
	b.mu.RLock()
	if b.closed {
		b.mu.RUnlock()
		return ErrClosed
	}
	return nil
}

func closedErr(err error) error {
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	return err
}

// expiryKey is ExpiresAt (big-endian unix nanoseconds) || id.
func expiryKey(exp time.Time, id string) []byte {
	k := make([]byte, 8+len(id))
	binary.BigEndian.PutUint64(k, uint64(exp.UnixNano()))
	copy(k[8:], id)
	return k
}

// splitExpiryKey undoes expiryKey; ok is false for a key too short to be one.
func splitExpiryKey(k []byte) (expNanos uint64, id []byte, ok bool) {
	if len(k) < 8 {
		return 0, nil, false
	}
	return binary.BigEndian.Uint64(k[:8]), k[8:], true
}

// Register implements Store. It returns once the session is durably
// committed; concurrent calls share commits (see Bolt).
func (b *Bolt) Register(ctx context.Context, in Session) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("sessionstore: register %s: %w", in.ID, err)
	}
	s, err := checkSession(in, b.maxLifetime)
	if err != nil {
		return fmt.Errorf("sessionstore: register %s: %w", in.ID, err)
	}
	id := []byte(s.ID)
	val := encodeSession(s)
	idx := expiryKey(s.ExpiresAt, s.ID)
	if err := b.begin(); err != nil {
		return fmt.Errorf("sessionstore: register %s: %w", s.ID, err)
	}
	defer b.mu.RUnlock()
	r := registration{sid: s.ID, id: id, val: val, idx: idx, done: make(chan error, 1)}
	select {
	case b.regs <- r:
	case <-ctx.Done():
		return fmt.Errorf("sessionstore: register %s: %w", s.ID, ctx.Err())
	}
	// Once queued, the registration is committed whatever the caller does;
	// waiting for it keeps Close from closing the file under it.
	if err := <-r.done; err != nil {
		return fmt.Errorf("sessionstore: register %s: %w", s.ID, closedErr(err))
	}
	return nil
}

// putSession stores an encoded session and its index entry, replacing the
// index entry of a previous record with the same ID. It is idempotent.
func putSession(tx *bolt.Tx, sid string, id, val, idx []byte) error {
	sb, eb := tx.Bucket(bucketSessions), tx.Bucket(bucketExpiry)
	if old := sb.Get(id); old != nil {
		if o, err := decodeSession(sid, old); err == nil {
			if oldIdx := expiryKey(o.ExpiresAt, sid); !bytes.Equal(oldIdx, idx) {
				if err := eb.Delete(oldIdx); err != nil {
					return err
				}
			}
		}
	}
	if err := sb.Put(id, val); err != nil {
		return err
	}
	return eb.Put(idx, []byte{})
}

// Get implements Store.
func (b *Bolt) Get(ctx context.Context, id string) (Session, bool, error) {
	if err := ctx.Err(); err != nil {
		return Session{}, false, fmt.Errorf("sessionstore: get %s: %w", id, err)
	}
	if err := b.begin(); err != nil {
		return Session{}, false, fmt.Errorf("sessionstore: get %s: %w", id, err)
	}
	defer b.mu.RUnlock()
	var (
		s     Session
		found bool
	)
	err := b.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketSessions).Get([]byte(id))
		if v == nil {
			return nil
		}
		var err error
		s, err = decodeSession(id, v)
		found = err == nil
		return err
	})
	if err != nil {
		return Session{}, false, fmt.Errorf("sessionstore: get %s: %w", id, closedErr(err))
	}
	return s, found, nil
}

// List implements Store. It walks the expiry index (from now, unless
// expired sessions are included), a bounded number of entries per read
// transaction.
func (b *Bolt) List(ctx context.Context, f Filter) ([]Session, error) {
	now := time.Now()
	var start []byte
	if !f.IncludeExpired {
		// Live sessions have ExpiresAt > now: start at now + 1ns.
		start = make([]byte, 8)
		binary.BigEndian.PutUint64(start, uint64(now.UnixNano()+1))
	}
	var out []Session
	var last []byte // last index key visited
	for {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("sessionstore: list: %w", err)
		}
		done, err := b.listChunk(f, now, start, &last, &out)
		if err != nil {
			return nil, fmt.Errorf("sessionstore: list: %w", err)
		}
		if done {
			return out, nil
		}
	}
}

// listChunk reads up to boltListChunk index entries in one read
// transaction, starting after *last (or at start, or at the beginning),
// appending matches to out. It sets *last to the last entry it read.
func (b *Bolt) listChunk(f Filter, now time.Time, start []byte, last *[]byte, out *[]Session) (done bool, err error) {
	if err := b.begin(); err != nil {
		return false, err
	}
	defer b.mu.RUnlock()
	err = b.db.View(func(tx *bolt.Tx) error {
		sb := tx.Bucket(bucketSessions)
		c := tx.Bucket(bucketExpiry).Cursor()
		var k []byte
		switch {
		case *last != nil:
			k, _ = c.Seek(*last)
			if bytes.Equal(k, *last) {
				k, _ = c.Next()
			}
		case start != nil:
			k, _ = c.Seek(start)
		default:
			k, _ = c.First()
		}
		var prev []byte // valid until the transaction ends
		for n := 0; k != nil; k, _ = c.Next() {
			if n == boltListChunk {
				*last = bytes.Clone(prev)
				return nil
			}
			n++
			prev = k
			exp, id, ok := splitExpiryKey(k)
			if !ok {
				continue
			}
			v := sb.Get(id)
			if v == nil {
				continue
			}
			s, err := decodeSession(string(id), v)
			if err != nil {
				return fmt.Errorf("session %s: %w", id, err)
			}
			if uint64(s.ExpiresAt.UnixNano()) != exp {
				continue // stale index entry
			}
			if !f.match(s, now) {
				continue
			}
			*out = append(*out, s)
			if f.Limit > 0 && len(*out) >= f.Limit {
				done = true
				return nil
			}
		}
		done = true
		return nil
	})
	return done, closedErr(err)
}

// Revoke implements Store.
func (b *Bolt) Revoke(ctx context.Context, r Revocation) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("sessionstore: revoke: %w", err)
	}
	r, err := PrepareRevocation(r, time.Now())
	if err != nil {
		return fmt.Errorf("sessionstore: revoke: %w", err)
	}
	val, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("sessionstore: revoke %s: %w", r.ID, err)
	}
	if err := b.begin(); err != nil {
		return fmt.Errorf("sessionstore: revoke %s: %w", r.ID, err)
	}
	defer b.mu.RUnlock()
	err = b.db.Update(func(tx *bolt.Tx) error {
		rb := tx.Bucket(bucketRevocations)
		if old := rb.Get([]byte(r.ID)); old != nil {
			var o Revocation
			if err := json.Unmarshal(old, &o); err == nil && sameRevocation(o, r) {
				return nil
			}
			return ErrConflict
		}
		return rb.Put([]byte(r.ID), val)
	})
	if err != nil {
		return fmt.Errorf("sessionstore: revoke %s: %w", r.ID, closedErr(err))
	}
	return nil
}

// Revocations implements Store.
func (b *Bolt) Revocations(ctx context.Context) ([]Revocation, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("sessionstore: revocations: %w", err)
	}
	if err := b.begin(); err != nil {
		return nil, fmt.Errorf("sessionstore: revocations: %w", err)
	}
	defer b.mu.RUnlock()
	var out []Revocation
	err := b.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketRevocations).ForEach(func(k, v []byte) error {
			var r Revocation
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("revocation %s: %w", k, err)
			}
			out = append(out, r)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("sessionstore: revocations: %w", closedErr(err))
	}
	sortRevocations(out)
	return out, nil
}

// PurgeExpired implements Store. It deletes expired sessions in write
// transactions of at most 1,000 sessions each, walking only the expired
// prefix of the expiry index, then drops revocations whose At is older than
// now minus the maximum session lifetime. Registrations proceed between
// chunks. If ctx ends, it stops between chunks and returns what it removed.
func (b *Bolt) PurgeExpired(ctx context.Context, now time.Time) (int, error) {
	if now.Before(minIndexTime) {
		return 0, nil // nothing is indexed before 1970
	}
	limit := uint64(now.UnixNano())
	if now.After(maxIndexTime) {
		limit = 1<<63 - 1
	}
	removed := 0
	for {
		if err := ctx.Err(); err != nil {
			return removed, fmt.Errorf("sessionstore: purge: %w", err)
		}
		n, more, err := b.purgeChunk(limit)
		removed += n
		if err != nil {
			return removed, fmt.Errorf("sessionstore: purge: %w", err)
		}
		if !more {
			break
		}
	}
	if err := b.purgeRevocations(now.Add(-b.maxLifetime)); err != nil {
		return removed, fmt.Errorf("sessionstore: purge revocations: %w", err)
	}
	return removed, nil
}

// purgeChunk deletes up to b.purgeChunkSize sessions whose index key is at or
// before limit (unix nanoseconds), in one write transaction.
func (b *Bolt) purgeChunk(limit uint64) (removed int, more bool, err error) {
	if err := b.begin(); err != nil {
		return 0, false, err
	}
	defer b.mu.RUnlock()
	b.purgeTxs.Add(1)
	err = b.db.Update(func(tx *bolt.Tx) error {
		removed, more = 0, false
		sb, eb := tx.Bucket(bucketSessions), tx.Bucket(bucketExpiry)
		// Collect first: deleting under a bbolt cursor skips entries.
		var keys [][]byte
		c := eb.Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			if exp, _, ok := splitExpiryKey(k); ok && exp > limit {
				break
			}
			if len(keys) == b.purgeChunkSize {
				more = true
				break
			}
			keys = append(keys, bytes.Clone(k))
		}
		for _, k := range keys {
			if err := eb.Delete(k); err != nil {
				return err
			}
			exp, id, ok := splitExpiryKey(k)
			if !ok {
				continue
			}
			v := sb.Get(id)
			if v == nil {
				continue
			}
			// Delete the record only if this index entry is its own (a
			// corrupt record under an expired entry goes too).
			if s, err := decodeSession(string(id), v); err == nil && uint64(s.ExpiresAt.UnixNano()) != exp {
				continue
			}
			if err := sb.Delete(id); err != nil {
				return err
			}
			removed++
		}
		return nil
	})
	if err != nil {
		return 0, false, closedErr(err)
	}
	return removed, more, nil
}

func (b *Bolt) purgeRevocations(cutoff time.Time) error {
	if err := b.begin(); err != nil {
		return err
	}
	defer b.mu.RUnlock()
	var stale [][]byte
	err := b.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketRevocations).ForEach(func(k, v []byte) error {
			var r Revocation
			if err := json.Unmarshal(v, &r); err != nil {
				return nil // keep what cannot be read; Revocations reports it
			}
			if r.At.Before(cutoff) {
				stale = append(stale, bytes.Clone(k))
			}
			return nil
		})
	})
	if err != nil || len(stale) == 0 {
		return closedErr(err)
	}
	return closedErr(b.db.Update(func(tx *bolt.Tx) error {
		rb := tx.Bucket(bucketRevocations)
		for _, k := range stale {
			if err := rb.Delete(k); err != nil {
				return err
			}
		}
		return nil
	}))
}

// Close implements Store: it waits for operations in flight, then closes
// the file (releasing its lock).
func (b *Bolt) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	// Registrations hold the read lock until committed, so none is queued.
	close(b.regs)
	<-b.committerDone
	if err := b.db.Close(); err != nil {
		return fmt.Errorf("sessionstore: close %s: %w", b.path, err)
	}
	return nil
}
