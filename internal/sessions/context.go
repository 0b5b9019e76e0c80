package sessions

import (
	"context"
	"sync"
	"time"

	"github.com/opa-sts/opa-sts/internal/credentials"
)

// A plugin's own evaluation carries what it is entitled to in its
// context, where no REST API caller can put anything: the session it has
// already verified (so that sts.verify_session does not verify it again),
// and the right to mint with the production keys (the STS plugin only).

type verifiedKey struct{}

type verified struct {
	accessKeyID, token string
	session            *credentials.Session
}

// WithVerified returns ctx carrying a session the caller verified with
// the authority for (accessKeyID, token).
func WithVerified(ctx context.Context, accessKeyID, token string, s *credentials.Session) context.Context {
	return context.WithValue(ctx, verifiedKey{}, &verified{accessKeyID: accessKeyID, token: token, session: s})
}

// VerifiedFrom returns the session ctx carries for exactly (accessKeyID,
// token), or nil.
func VerifiedFrom(ctx context.Context, accessKeyID, token string) *credentials.Session {
	v, _ := ctx.Value(verifiedKey{}).(*verified)
	if v == nil || v.accessKeyID != accessKeyID || v.token != token {
		return nil
	}
	return v.session
}

type mintKey struct{}

// MintScope is the right to mint with the production keys during one
// evaluation of the STS plugin's decision. Every credential minted in it
// is collected, and the plugin registers each before it answers.
type MintScope struct {
	authority *Authority
	mu        sync.Mutex
	minted    []Minted
}

// Minted is one credential minted in a scope, with its grant.
type Minted struct {
	Grant  credentials.Grant
	Issued credentials.Issued
}

// WithMinting returns ctx carrying a new mint scope of a.
func WithMinting(ctx context.Context, a *Authority) (context.Context, *MintScope) {
	s := &MintScope{authority: a}
	return context.WithValue(ctx, mintKey{}, s), s
}

// MintScopeFrom returns the mint scope ctx carries, or nil.
func MintScopeFrom(ctx context.Context) *MintScope {
	s, _ := ctx.Value(mintKey{}).(*MintScope)
	return s
}

// Authority is the authority the scope mints with.
func (s *MintScope) Authority() *Authority { return s.authority }

// Mint mints g and remembers it for registration.
func (s *MintScope) Mint(g credentials.Grant, now time.Time) (credentials.Issued, error) {
	c, err := s.authority.Mint(g, now)
	if err != nil {
		return c, err
	}
	s.mu.Lock()
	s.minted = append(s.minted, Minted{Grant: g, Issued: c})
	s.mu.Unlock()
	return c, nil
}

// Minted returns what was minted in the scope so far.
func (s *MintScope) Minted() []Minted {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Minted(nil), s.minted...)
}
