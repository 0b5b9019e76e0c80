// Package sessionstore records issued sessions and revocations.
//
// Sessions are stateless credentials: the session token is signed and the
// secret access key is derived, so nothing here is needed to verify a
// credential and nothing secret is stored. The store is a registry for
// listing, audit and revocation. The token-verification hot path only
// consults a local [RevocationView], fed by [Store.Revoke] on this node (and,
// with a replicated backend, by a watch on the revocation entries).
//
// Backends: [Memory] (tests, single process), [Bolt] (the embedded default:
// one file, survives restarts). Each backend passes the conformance suite in
// package sessionstoretest.
//
// Semantics shared by every backend:
//   - A session is expired at time t when ExpiresAt <= t. List omits expired
//     sessions unless Filter.IncludeExpired; Get returns a stored session
//     whether or not it has expired (until it is purged).
//   - List returns sessions ordered by ExpiresAt, then ID.
//   - Revocations returns entries ordered by CreatedAt, then ID.
//   - Registering an existing ID replaces the record (a retried Register is
//     harmless). Revoking an existing ID with the same content is a no-op;
//     with different content it fails with ErrConflict (entries are
//     immutable).
//   - Register rejects sessions that live longer than the store's maximum
//     session lifetime, because PurgeExpired drops revocations whose At is
//     older than now minus that lifetime: a longer-lived session could
//     otherwise outlive its revocation.
//   - Times are stored in UTC without monotonic clock readings.
package sessionstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// DefaultMaxSessionLifetime is the longest session a store accepts unless
// configured otherwise. It matches the longest credential the minter issues
// (366 days); deployments with a shorter policy maximum can lower it so that
// revocation entries are purged sooner.
const DefaultMaxSessionLifetime = 366 * 24 * time.Hour

var (
	// ErrClosed is returned by every method of a closed store.
	ErrClosed = errors.New("store is closed")
	// ErrInvalid wraps every validation failure.
	ErrInvalid = errors.New("invalid argument")
	// ErrConflict is returned when a revocation id is reused with different
	// content.
	ErrConflict = errors.New("revocation id already used with different content")
)

// Session is what is recorded about one issued credential. It never holds
// the secret access key or the session token.
type Session struct {
	ID          string    `json:"id"` // session id (the session token's jti)
	AccessKeyID string    `json:"access_key_id"`
	Subject     string    `json:"subject,omitempty"`     // subject the policy granted
	Issuer      string    `json:"issuer,omitempty"`      // identity provider's iss
	IdPSubject  string    `json:"idp_subject,omitempty"` // the IdP token's sub (may be empty: WSO2 may omit it)
	ClientID    string    `json:"client_id,omitempty"`   // azp / client_id
	Action      string    `json:"action,omitempty"`      // AssumeRoleWithClientGrants | AssumeRoleWithWebIdentity
	IssuedAt    time.Time `json:"issued_at"`
	ExpiresAt   time.Time `json:"expires_at"`
	Revision    string    `json:"revision,omitempty"` // policy bundle revision that decided it
	SourceIP    string    `json:"source_ip,omitempty"`
}

// Expired reports whether s is expired at now (ExpiresAt <= now).
func (s Session) Expired(now time.Time) bool { return !now.Before(s.ExpiresAt) }

// Lifetime is ExpiresAt - IssuedAt.
func (s Session) Lifetime() time.Duration { return s.ExpiresAt.Sub(s.IssuedAt) }

var (
	minIndexTime = time.Unix(0, 0)
	maxIndexTime = time.Unix(0, 1<<63-1)
)

// Validate checks what every backend requires of a session: an ID and an
// AccessKeyID, a non-zero IssuedAt, ExpiresAt after IssuedAt, and ExpiresAt
// between 1970 and 2262 (it is indexed as int64 unix nanoseconds).
func (s Session) Validate() error {
	switch {
	case s.ID == "":
		return fmt.Errorf("%w: session has no id", ErrInvalid)
	case s.AccessKeyID == "":
		return fmt.Errorf("%w: session has no access key id", ErrInvalid)
	case s.IssuedAt.IsZero():
		return fmt.Errorf("%w: session has no issue time", ErrInvalid)
	case !s.ExpiresAt.After(s.IssuedAt):
		return fmt.Errorf("%w: session expires at %s, not after its issue time %s", ErrInvalid,
			s.ExpiresAt.UTC().Format(time.RFC3339Nano), s.IssuedAt.UTC().Format(time.RFC3339Nano))
	case s.ExpiresAt.Before(minIndexTime) || s.ExpiresAt.After(maxIndexTime):
		return fmt.Errorf("%w: session expiry %s out of range", ErrInvalid, s.ExpiresAt.UTC().Format(time.RFC3339))
	}
	return nil
}

// checkSession validates s against a store's lifetime bound and returns it
// normalised (UTC, no monotonic reading).
func checkSession(s Session, maxLifetime time.Duration) (Session, error) {
	if err := s.Validate(); err != nil {
		return Session{}, err
	}
	if l := s.Lifetime(); l > maxLifetime {
		return Session{}, fmt.Errorf("%w: session lifetime %s exceeds the store's maximum %s", ErrInvalid, l, maxLifetime)
	}
	s.IssuedAt = s.IssuedAt.UTC()
	s.ExpiresAt = s.ExpiresAt.UTC()
	return s, nil
}

// RevocationKind says which session attribute a revocation matches.
type RevocationKind string

// Revocation kinds.
const (
	KindSession RevocationKind = "session" // Value is a session ID
	KindSubject RevocationKind = "subject" // Value is a Session.Subject
	KindIssuer  RevocationKind = "issuer"  // Value is a Session.Issuer
	KindClient  RevocationKind = "client"  // Value is a Session.ClientID
	KindAll     RevocationKind = "all"     // every session; Value is empty
)

// Valid reports whether k is one of the known kinds.
func (k RevocationKind) Valid() bool {
	switch k {
	case KindSession, KindSubject, KindIssuer, KindClient, KindAll:
		return true
	}
	return false
}

// Revocation revokes every session that matches Kind/Value and was issued at
// or before At. ("all" with At = T is "everything issued at or before T";
// Value is empty then.) Entries are immutable: an etcd backend can stream
// them with a watch, and a view only ever has to add them.
type Revocation struct {
	ID        string         `json:"id"` // unique id of the entry
	Kind      RevocationKind `json:"kind"`
	Value     string         `json:"value,omitempty"`
	At        time.Time      `json:"at"`
	Reason    string         `json:"reason,omitempty"`
	CreatedAt time.Time      `json:"created_at"`
}

// Matches reports whether r revokes s: s's attribute selected by r.Kind
// equals r.Value (an empty attribute never matches) and s was issued at or
// before r.At.
func (r Revocation) Matches(s Session) bool {
	if s.IssuedAt.After(r.At) {
		return false
	}
	var v string
	switch r.Kind {
	case KindAll:
		return true
	case KindSession:
		v = s.ID
	case KindSubject:
		v = s.Subject
	case KindIssuer:
		v = s.Issuer
	case KindClient:
		v = s.ClientID
	default:
		return false
	}
	return v != "" && v == r.Value
}

// Validate checks the kind, the value (required unless Kind is "all",
// forbidden for "all") and At (non-zero). ID and CreatedAt may be empty:
// PrepareRevocation fills them in.
func (r Revocation) Validate() error {
	switch {
	case !r.Kind.Valid():
		return fmt.Errorf("%w: unknown revocation kind %q", ErrInvalid, r.Kind)
	case r.Kind != KindAll && r.Value == "":
		return fmt.Errorf("%w: %s revocation has no value", ErrInvalid, r.Kind)
	case r.Kind == KindAll && r.Value != "":
		return fmt.Errorf("%w: \"all\" revocation must not have a value", ErrInvalid)
	case r.At.IsZero():
		return fmt.Errorf("%w: revocation has no time", ErrInvalid)
	}
	return nil
}

// PrepareRevocation validates r and returns it with a random ID if it had
// none, CreatedAt set to now if it was zero, and times in UTC. Stores call
// it in Revoke; callers that want to know the ID before revoking call it
// first (it is idempotent).
func PrepareRevocation(r Revocation, now time.Time) (Revocation, error) {
	if err := r.Validate(); err != nil {
		return Revocation{}, err
	}
	if r.ID == "" {
		r.ID = NewID()
	}
	if r.CreatedAt.IsZero() {
		r.CreatedAt = now
	}
	r.At = r.At.UTC()
	r.CreatedAt = r.CreatedAt.UTC()
	return r, nil
}

// sameRevocation compares two prepared revocations.
func sameRevocation(a, b Revocation) bool {
	return a.ID == b.ID && a.Kind == b.Kind && a.Value == b.Value && a.At.Equal(b.At) &&
		a.Reason == b.Reason && a.CreatedAt.Equal(b.CreatedAt)
}

// NewID returns 16 random bytes in hex, for revocation ids.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand panics on failure)
	return hex.EncodeToString(b[:])
}

// Filter selects sessions in List. Empty strings match anything; a Limit
// of zero or less means no limit.
type Filter struct {
	Subject        string
	Issuer         string
	ClientID       string
	IncludeExpired bool
	Limit          int
}

func (f Filter) match(s Session, now time.Time) bool {
	return (f.Subject == "" || f.Subject == s.Subject) &&
		(f.Issuer == "" || f.Issuer == s.Issuer) &&
		(f.ClientID == "" || f.ClientID == s.ClientID) &&
		(f.IncludeExpired || !s.Expired(now))
}

// Store is the session registry. Implementations are safe for concurrent
// use.
type Store interface {
	// Register records a newly issued session. It must be safe for heavy
	// concurrent use; backends batch writes.
	Register(ctx context.Context, s Session) error
	// Get returns the session with this ID, expired or not, if it is still
	// stored.
	Get(ctx context.Context, id string) (Session, bool, error)
	// List returns matching sessions ordered by ExpiresAt, then ID.
	List(ctx context.Context, f Filter) ([]Session, error)
	// Revoke records a revocation entry (see PrepareRevocation).
	Revoke(ctx context.Context, r Revocation) error
	// Revocations returns every entry, ordered by CreatedAt, then ID.
	Revocations(ctx context.Context) ([]Revocation, error)
	// PurgeExpired deletes sessions that expired at or before now (and
	// revocations that can no longer match any live session: At older than
	// now minus the maximum session lifetime), returning how many sessions
	// were removed.
	PurgeExpired(ctx context.Context, now time.Time) (int, error)
	// Close releases the store. Later calls fail with ErrClosed; a second
	// Close returns nil.
	Close() error
}

// LoadView loads every revocation of st into v.
func LoadView(ctx context.Context, st Store, v *RevocationView) error {
	rs, err := st.Revocations(ctx)
	if err != nil {
		return err
	}
	v.Load(rs)
	return nil
}

// RevokeAndApply prepares r, records it in st and, once that succeeded, adds
// it to v, so this node enforces it at once. It returns the prepared entry.
func RevokeAndApply(ctx context.Context, st Store, v RevocationSink, r Revocation, now time.Time) (Revocation, error) {
	r, err := PrepareRevocation(r, now)
	if err != nil {
		return Revocation{}, fmt.Errorf("sessionstore: revoke: %w", err)
	}
	if err := st.Revoke(ctx, r); err != nil {
		return Revocation{}, err
	}
	if v != nil {
		v.Add(r)
	}
	return r, nil
}

func sortSessions(ss []Session) {
	slices.SortFunc(ss, func(a, b Session) int {
		if c := a.ExpiresAt.Compare(b.ExpiresAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
}

func sortRevocations(rs []Revocation) {
	slices.SortFunc(rs, func(a, b Revocation) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
}
