// Package sessions is the session authority of an opa-sts process: the
// STS keyring and derivation secret, the issuer name, minting, session
// verification including the revocation check, the revocation view, and
// the session store that registers sessions and feeds that view.
//
// There is one Authority per process, opened by the core plugin
// (internal/core) from plugins.sts_sessions. The STS plugin mints and
// registers through it, enforcement verifies through it, and the sts.*
// built-ins read it; nothing else holds keys. An Authority that has not
// loaded the revocations yet verifies nothing: a session it cannot check
// against the revocations is refused, never guessed at.
package sessions

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/opa-sts/opa-sts/internal/credentials"
	"github.com/opa-sts/opa-sts/internal/jwtverify"
	"github.com/opa-sts/opa-sts/internal/keyring"
	"github.com/opa-sts/opa-sts/internal/sessionstore"
)

// Verification error codes of the authority, beside those of
// jwtverify and credentials.CodeAccessKeyMismatch.
const (
	// CodeRevoked: the session was revoked.
	CodeRevoked jwtverify.Code = "revoked"
	// CodeNotReady: the revocations have not been loaded yet.
	CodeNotReady jwtverify.Code = "not_ready"
	// CodeNotConfigured: the process has no session authority.
	CodeNotConfigured jwtverify.Code = "not_configured"
)

var (
	errRevoked       = &jwtverify.Error{Code: CodeRevoked, Message: "the session has been revoked"}
	errNotReady      = &jwtverify.Error{Code: CodeNotReady, Message: "sessions cannot be verified yet: the revocation list has not been loaded (the session store is unreachable)"}
	ErrNotConfigured = &jwtverify.Error{Code: CodeNotConfigured, Message: "no session authority is configured in this process (plugins.sts_sessions)"}
)

// ErrNotReady is returned by Mint and Register before the revocations
// have loaded, and by Ready.
var ErrNotReady = errors.New("sessions: the revocation list has not been loaded yet")

// Logger is what the authority logs through (OPA's logging.Logger fits).
type Logger interface {
	Info(format string, args ...any)
	Warn(format string, args ...any)
	Error(format string, args ...any)
}

// Authority mints and verifies sessions. It is safe for concurrent use.
type Authority struct {
	issuer   string
	keys     *keyring.Keyring
	minter   *credentials.Minter
	verifier *credentials.SessionVerifier
	store    sessionstore.Store
	view     *sessionstore.RevocationView
	// ephemeral marks a throwaway authority (opa eval, opa test).
	ephemeral bool

	loaded     atomic.Bool
	loadedOnce sync.Once
	loadedCh   chan struct{}

	snapshot *snapshot // etcd only
	stop     context.CancelFunc
	bg       sync.WaitGroup
	closed   atomic.Bool
}

func newAuthority(issuer string, kr *keyring.Keyring, cacheSize int) (*Authority, error) {
	m, err := credentials.NewMinter(issuer, kr)
	if err != nil {
		return nil, err
	}
	v, err := credentials.NewSessionVerifier(issuer, kr, cacheSize)
	if err != nil {
		return nil, err
	}
	return &Authority{
		issuer: issuer, keys: kr, minter: m, verifier: v,
		view: sessionstore.NewRevocationView(), loadedCh: make(chan struct{}),
	}, nil
}

// EphemeralIssuer names the session tokens of a throwaway authority:
// they verify only in the process that minted them.
const EphemeralIssuer = "urn:opa-sts:ephemeral"

// NewEphemeral returns a throwaway authority with a generated keyring, no
// store and no revocations, for evaluation without a server (opa eval,
// opa test).
func NewEphemeral() (*Authority, error) {
	kr, err := keyring.Generate()
	if err != nil {
		return nil, err
	}
	a, err := newAuthority(EphemeralIssuer, kr, DefaultVerifiedTokenCacheSize)
	if err != nil {
		return nil, err
	}
	a.ephemeral = true
	a.store = sessionstore.NewMemory()
	a.markLoaded()
	return a, nil
}

// NewForTest returns an authority with the given keyring and a memory
// store, ready at once: for tests and benchmarks of the plugins.
func NewForTest(issuer string, kr *keyring.Keyring) (*Authority, error) {
	a, err := newAuthority(issuer, kr, DefaultVerifiedTokenCacheSize)
	if err != nil {
		return nil, err
	}
	a.store = sessionstore.NewMemory()
	a.markLoaded()
	return a, nil
}

func (a *Authority) markLoaded() {
	a.loadedOnce.Do(func() {
		a.loaded.Store(true)
		close(a.loadedCh)
	})
}

// Issuer is the "iss" of the session tokens.
func (a *Authority) Issuer() string { return a.issuer }

// Ephemeral reports whether this is a throwaway authority.
func (a *Authority) Ephemeral() bool { return a.ephemeral }

// PublicJWKS is the JWK Set of the session-token verification keys.
func (a *Authority) PublicJWKS() []byte { return a.keys.PublicJWKS() }

// Ready is nil once the revocations have been loaded (from the store, or
// from the local snapshot while a replicated store is unreachable).
func (a *Authority) Ready() error {
	if a.loaded.Load() {
		return nil
	}
	return ErrNotReady
}

// Loaded is closed once the revocations have been loaded.
func (a *Authority) Loaded() <-chan struct{} { return a.loadedCh }

// Mint issues a credential for g at now. It stores nothing: Register
// records it. Minting waits for readiness like verification does, so
// that no credential is handed out by a process that cannot enforce its
// revocation.
func (a *Authority) Mint(g credentials.Grant, now time.Time) (credentials.Issued, error) {
	if err := a.Ready(); err != nil {
		return credentials.Issued{}, err
	}
	return a.minter.Mint(g, now)
}

// Register records an issued session in the store. Credentials that are
// not registered must not be handed out: revocation by subject, issuer
// or client, listing and audit rely on the registry.
func (a *Authority) Register(ctx context.Context, s sessionstore.Session) error {
	if err := a.Ready(); err != nil {
		return err
	}
	return a.store.Register(ctx, s)
}

// Verify checks that token is a valid, unexpired, unrevoked session token
// of this authority's issuer for accessKeyID. Before the revocations
// have loaded, every session is refused (not_ready).
func (a *Authority) Verify(ctx context.Context, accessKeyID, token string, now time.Time) (*credentials.Session, *jwtverify.Error) {
	if !a.loaded.Load() {
		return nil, errNotReady
	}
	s, verr := a.verifier.Verify(ctx, accessKeyID, token, now)
	if verr != nil {
		return nil, verr
	}
	if a.view.IsRevoked(RegistryView(s)) || a.view.ChainRevoked(chainOf(s.Claims), s.IssuedAt) {
		return nil, errRevoked
	}
	return s, nil
}

// Secret re-derives the secret access key of a verified session.
func (a *Authority) Secret(s *credentials.Session) string { return a.verifier.Secret(s) }

// PrincipalSecret derives the secret access key of a long-term
// principal's access key id (credentials.DerivePrincipalSecret). Whether
// the principal exists (and is enabled) is the policy's to say.
func (a *Authority) PrincipalSecret(accessKeyID string) (string, error) {
	if err := a.Ready(); err != nil {
		return "", err
	}
	if !credentials.IsPrincipalAccessKeyID(accessKeyID) {
		return "", errors.New("sessions: not a principal access key id")
	}
	return credentials.DerivePrincipalSecret(a.keys.DerivationSecret(), accessKeyID), nil
}

// Revoke records a revocation in the store and applies it to this
// process's view at once (other replicas receive it by watch).
func (a *Authority) Revoke(ctx context.Context, r sessionstore.Revocation, now time.Time) (sessionstore.Revocation, error) {
	if err := a.Ready(); err != nil {
		return sessionstore.Revocation{}, err
	}
	rev, err := sessionstore.RevokeAndApply(ctx, a.store, a.sink(), r, now)
	if err != nil {
		return sessionstore.Revocation{}, err
	}
	return rev, nil
}

// Revocations lists the revocations in the store.
func (a *Authority) Revocations(ctx context.Context) ([]sessionstore.Revocation, error) {
	return a.store.Revocations(ctx)
}

// RevocationCount is the number of distinct revocation keys in the view.
func (a *Authority) RevocationCount() int { return a.view.Len() }

// sink is where revocations go: the view, and the snapshot when there is
// one.
func (a *Authority) sink() sessionstore.RevocationSink {
	if a.snapshot != nil {
		return snapshotSink{a}
	}
	return a.view
}

// snapshotSink feeds the view and keeps the local snapshot in step.
type snapshotSink struct{ a *Authority }

func (s snapshotSink) Load(rs []sessionstore.Revocation) {
	s.a.view.Load(rs)
	s.a.snapshot.replace(rs)
	s.a.markLoaded()
}

func (s snapshotSink) Add(r sessionstore.Revocation) {
	s.a.view.Add(r)
	s.a.snapshot.add(r)
}

// Close stops the background work (revocation watch, purger) and closes
// the store. Later calls do nothing.
func (a *Authority) Close() error {
	if a.closed.Swap(true) {
		return nil
	}
	if a.stop != nil {
		a.stop()
	}
	a.bg.Wait()
	if a.snapshot != nil {
		a.snapshot.close()
	}
	if a.store != nil {
		if err := a.store.Close(); err != nil {
			return fmt.Errorf("sessions: close the session store: %w", err)
		}
	}
	return nil
}

var (
	claimSrc    = ast.StringTerm("src")
	claimSrcIss = ast.StringTerm("iss")
	claimSrcCID = ast.StringTerm("client_id")
	claimSrcSub = ast.StringTerm("sub")
)

// RegistryView is the registry record of a verified session token, as
// revocations match it.
func RegistryView(s *credentials.Session) sessionstore.Session {
	out := sessionstore.Session{ID: s.SessionID, AccessKeyID: s.AccessKeyID, Subject: s.Subject, IssuedAt: s.IssuedAt, ExpiresAt: s.Expiration}
	if src := s.Claims.Get(claimSrc); src != nil {
		if o, ok := src.Value.(ast.Object); ok {
			str := func(k *ast.Term) string {
				if t := o.Get(k); t != nil {
					if v, ok := t.Value.(ast.String); ok {
						return string(v)
					}
				}
				return ""
			}
			out.Issuer, out.ClientID, out.IdPSubject = str(claimSrcIss), str(claimSrcCID), str(claimSrcSub)
		}
	}
	return out
}

var claimGrant, keySource, keyChain = ast.StringTerm("grant"), ast.StringTerm("source"), ast.StringTerm("chain")

// chainOf reads grant.source.chain, the sessions a chained session was
// assumed from (policies/sts/assume_role.rego).
func chainOf(claims ast.Object) []string {
	value := func(t *ast.Term) ast.Value {
		if t == nil {
			return nil
		}
		return t.Value
	}
	if claims == nil {
		return nil
	}
	g, ok := value(claims.Get(claimGrant)).(ast.Object)
	if !ok {
		return nil
	}
	src, ok := value(g.Get(keySource)).(ast.Object)
	if !ok {
		return nil
	}
	arr, ok := value(src.Get(keyChain)).(*ast.Array)
	if !ok {
		return nil
	}
	out := make([]string, 0, arr.Len())
	for i := range arr.Len() {
		if s, ok := arr.Elem(i).Value.(ast.String); ok {
			out = append(out, string(s))
		}
	}
	return out
}
