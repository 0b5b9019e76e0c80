package sessionstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// EtcdOptions configures OpenEtcd.
type EtcdOptions struct {
	// Prefix of every key (default "/opa-sts/").
	Prefix string
	// RequestTimeout bounds one operation (default 3 s): with etcd
	// unreachable, issuance fails closed quickly instead of hanging.
	RequestTimeout time.Duration
	// MaxSessionLifetime, as for the other backends.
	MaxSessionLifetime time.Duration
}

// Etcd is a Store in etcd, shared by every replica. Sessions are written
// with a lease that ends with the credential (leases are shared per minute
// of expiry, so registering costs one Put); revocations are written once
// and reach every replica through Follow.
type Etcd struct {
	cli         *clientv3.Client
	prefix      string
	timeout     time.Duration
	maxLifetime time.Duration

	mu     sync.Mutex
	leases map[int64]clientv3.LeaseID // expiry minute -> lease
	closed bool
}

var _ Store = (*Etcd)(nil)

// OpenEtcd uses cli (which the caller configures: endpoints, TLS, auth) and
// closes it on Close.
func OpenEtcd(cli *clientv3.Client, opts EtcdOptions) *Etcd {
	if opts.Prefix == "" {
		opts.Prefix = "/opa-sts/"
	}
	if !strings.HasSuffix(opts.Prefix, "/") {
		opts.Prefix += "/"
	}
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = 3 * time.Second
	}
	if opts.MaxSessionLifetime <= 0 {
		opts.MaxSessionLifetime = DefaultMaxSessionLifetime
	}
	return &Etcd{cli: cli, prefix: opts.Prefix, timeout: opts.RequestTimeout, maxLifetime: opts.MaxSessionLifetime, leases: map[int64]clientv3.LeaseID{}}
}

func (e *Etcd) sessionKey(id string) string    { return e.prefix + "sessions/" + id }
func (e *Etcd) revocationKey(id string) string { return e.prefix + "revocations/" + id }

func (e *Etcd) op(ctx context.Context) (context.Context, context.CancelFunc, error) {
	e.mu.Lock()
	closed := e.closed
	e.mu.Unlock()
	if closed {
		return nil, nil, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	c, cancel := context.WithTimeout(ctx, e.timeout)
	return c, cancel, nil
}

// lease returns a lease that outlives expiresAt by at most a minute, shared
// by every session expiring in the same minute.
func (e *Etcd) lease(ctx context.Context, expiresAt time.Time) (clientv3.LeaseID, error) {
	minute := expiresAt.Unix()/60 + 1
	e.mu.Lock()
	id, ok := e.leases[minute]
	e.mu.Unlock()
	if ok {
		return id, nil
	}
	ttl := minute*60 - time.Now().Unix() + 60
	if ttl < 60 {
		ttl = 60
	}
	resp, err := e.cli.Grant(ctx, ttl)
	if err != nil {
		return 0, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if prev, ok := e.leases[minute]; ok {
		return prev, nil // another registration granted one meanwhile; ours just expires
	}
	e.leases[minute] = resp.ID
	// Forget leases of minutes long past.
	now := time.Now().Unix() / 60
	for m := range e.leases {
		if m < now-2 {
			delete(e.leases, m)
		}
	}
	return resp.ID, nil
}

// Register implements Store.
func (e *Etcd) Register(ctx context.Context, in Session) error {
	s, err := checkSession(in, e.maxLifetime)
	if err != nil {
		return fmt.Errorf("sessionstore: register %s: %w", in.ID, err)
	}
	c, cancel, err := e.op(ctx)
	if err != nil {
		return fmt.Errorf("sessionstore: register %s: %w", in.ID, err)
	}
	defer cancel()
	val, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("sessionstore: register %s: %w", s.ID, err)
	}
	lease, err := e.lease(c, s.ExpiresAt)
	if err != nil {
		return fmt.Errorf("sessionstore: register %s: lease: %w", s.ID, err)
	}
	if _, err := e.cli.Put(c, e.sessionKey(s.ID), string(val), clientv3.WithLease(lease)); err != nil {
		if errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "lease not found") {
			e.mu.Lock()
			delete(e.leases, s.ExpiresAt.Unix()/60+1)
			e.mu.Unlock()
		}
		return fmt.Errorf("sessionstore: register %s: %w", s.ID, err)
	}
	return nil
}

// Get implements Store.
func (e *Etcd) Get(ctx context.Context, id string) (Session, bool, error) {
	c, cancel, err := e.op(ctx)
	if err != nil {
		return Session{}, false, fmt.Errorf("sessionstore: get %s: %w", id, err)
	}
	defer cancel()
	resp, err := e.cli.Get(c, e.sessionKey(id))
	if err != nil {
		return Session{}, false, fmt.Errorf("sessionstore: get %s: %w", id, err)
	}
	if len(resp.Kvs) == 0 {
		return Session{}, false, nil
	}
	var s Session
	if err := json.Unmarshal(resp.Kvs[0].Value, &s); err != nil {
		return Session{}, false, fmt.Errorf("sessionstore: get %s: %w", id, err)
	}
	return s, true, nil
}

func (e *Etcd) all(ctx context.Context) ([]Session, error) {
	c, cancel, err := e.op(ctx)
	if err != nil {
		return nil, err
	}
	defer cancel()
	resp, err := e.cli.Get(c, e.prefix+"sessions/", clientv3.WithPrefix())
	if err != nil {
		return nil, err
	}
	out := make([]Session, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		var s Session
		if err := json.Unmarshal(kv.Value, &s); err == nil {
			out = append(out, s)
		}
	}
	return out, nil
}

// List implements Store.
func (e *Etcd) List(ctx context.Context, f Filter) ([]Session, error) {
	all, err := e.all(ctx)
	if err != nil {
		return nil, fmt.Errorf("sessionstore: list: %w", err)
	}
	now := time.Now()
	var out []Session
	for _, s := range all {
		if f.match(s, now) {
			out = append(out, s)
		}
	}
	sortSessions(out)
	if f.Limit > 0 && len(out) > f.Limit {
		out = out[:f.Limit]
	}
	return out, nil
}

// Revoke implements Store: written once; an existing id with other content
// is ErrConflict.
func (e *Etcd) Revoke(ctx context.Context, r Revocation) error {
	r, err := PrepareRevocation(r, time.Now())
	if err != nil {
		return fmt.Errorf("sessionstore: revoke: %w", err)
	}
	c, cancel, err := e.op(ctx)
	if err != nil {
		return fmt.Errorf("sessionstore: revoke %s: %w", r.ID, err)
	}
	defer cancel()
	val, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("sessionstore: revoke %s: %w", r.ID, err)
	}
	key := e.revocationKey(r.ID)
	resp, err := e.cli.Txn(c).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, string(val))).
		Else(clientv3.OpGet(key)).Commit()
	if err != nil {
		return fmt.Errorf("sessionstore: revoke %s: %w", r.ID, err)
	}
	if !resp.Succeeded {
		kvs := resp.Responses[0].GetResponseRange().Kvs
		var o Revocation
		if len(kvs) == 1 && json.Unmarshal(kvs[0].Value, &o) == nil && sameRevocation(o, r) {
			return nil
		}
		return fmt.Errorf("sessionstore: revoke %s: %w", r.ID, ErrConflict)
	}
	return nil
}

// Revocations implements Store.
func (e *Etcd) Revocations(ctx context.Context) ([]Revocation, error) {
	rs, _, err := e.revocations(ctx)
	return rs, err
}

func (e *Etcd) revocations(ctx context.Context) ([]Revocation, int64, error) {
	c, cancel, err := e.op(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("sessionstore: revocations: %w", err)
	}
	defer cancel()
	resp, err := e.cli.Get(c, e.prefix+"revocations/", clientv3.WithPrefix())
	if err != nil {
		return nil, 0, fmt.Errorf("sessionstore: revocations: %w", err)
	}
	var out []Revocation
	for _, kv := range resp.Kvs {
		var r Revocation
		if err := json.Unmarshal(kv.Value, &r); err != nil {
			return nil, 0, fmt.Errorf("sessionstore: revocation %s: %w", kv.Key, err)
		}
		out = append(out, r)
	}
	sortRevocations(out)
	return out, resp.Header.Revision, nil
}

// PurgeExpired implements Store. Leases remove sessions on their own, at
// most a minute after they expire; this removes them on the dot, and old
// revocations.
func (e *Etcd) PurgeExpired(ctx context.Context, now time.Time) (int, error) {
	all, err := e.all(ctx)
	if err != nil {
		return 0, fmt.Errorf("sessionstore: purge: %w", err)
	}
	removed := 0
	for _, s := range all {
		if !s.Expired(now) {
			continue
		}
		c, cancel, err := e.op(ctx)
		if err != nil {
			return removed, fmt.Errorf("sessionstore: purge: %w", err)
		}
		_, err = e.cli.Delete(c, e.sessionKey(s.ID))
		cancel()
		if err != nil {
			return removed, fmt.Errorf("sessionstore: purge: %w", err)
		}
		removed++
	}
	rs, _, err := e.revocations(ctx)
	if err != nil {
		return removed, err
	}
	cutoff := now.Add(-e.maxLifetime)
	for _, r := range rs {
		if r.At.Before(cutoff) {
			c, cancel, err := e.op(ctx)
			if err != nil {
				return removed, err
			}
			_, err = e.cli.Delete(c, e.revocationKey(r.ID))
			cancel()
			if err != nil {
				return removed, fmt.Errorf("sessionstore: purge revocations: %w", err)
			}
		}
	}
	return removed, nil
}

// RevocationSink receives the revocations a follower reads: a
// RevocationView, or a wrapper that also keeps a local snapshot of them.
type RevocationSink interface {
	// Load adds every revocation in etcd (a complete listing).
	Load(rs []Revocation)
	// Add adds one revocation from the watch.
	Add(r Revocation)
}

// Follow keeps view up to date with the revocations in etcd until ctx
// ends: it loads them, then applies every new one from a watch, starting
// over (load, then watch from there) whenever the watch breaks.
// Revocations written on any replica reach this one within the watch's
// latency.
func (e *Etcd) Follow(ctx context.Context, view RevocationSink, logf func(string, ...any)) {
	for ctx.Err() == nil {
		rs, rev, err := e.revocations(ctx)
		if err != nil {
			logf("sessionstore: follow revocations: %v (retrying)", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
			continue
		}
		view.Load(rs)
		wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
		for resp := range e.cli.Watch(wctx, e.prefix+"revocations/", clientv3.WithPrefix(), clientv3.WithRev(rev+1)) {
			if err := resp.Err(); err != nil {
				logf("sessionstore: revocation watch: %v (reloading)", err)
				break
			}
			for _, ev := range resp.Events {
				if ev.Type != clientv3.EventTypePut {
					continue
				}
				var r Revocation
				if err := json.Unmarshal(ev.Kv.Value, &r); err == nil {
					view.Add(r)
				}
			}
		}
		cancel()
	}
}

// Close implements Store.
func (e *Etcd) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	e.mu.Unlock()
	return e.cli.Close()
}
