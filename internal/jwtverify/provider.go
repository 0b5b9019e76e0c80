// Package jwtverify verifies JSON Web Tokens issued by OpenID Connect and
// OAuth2 identity providers against their published keys. Every failure is
// reported with a stable code, and every check fails closed.
package jwtverify

import (
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/opa-sts/opa-sts/internal/jwks"
)

// DefaultAlgorithms are the asymmetric signature algorithms accepted when a
// provider names none. HMAC algorithms are never accepted: an identity
// provider's verification key is public.
var DefaultAlgorithms = []string{
	"RS256", "RS384", "RS512",
	"PS256", "PS384", "PS512",
	"ES256", "ES384", "ES512",
	"EdDSA",
}

const (
	// DefaultLeeway is the clock skew tolerated for exp, nbf and iat.
	DefaultLeeway = 60 * time.Second
	// MaxLeeway bounds the configurable leeway.
	MaxLeeway = 10 * time.Minute
	// DefaultMaxTokenBytes bounds the size of a token (AWS allows 20,000
	// characters for a web identity token).
	DefaultMaxTokenBytes = 20000
)

// ProviderConfig is the trust configuration for one identity provider.
type ProviderConfig struct {
	// Issuer must equal the token's "iss" exactly (a trailing slash matters).
	Issuer string
	// Exactly one of DiscoveryURL, JWKSURL and JWKS.
	DiscoveryURL string
	JWKSURL      string
	JWKS         *jwks.Set
	// Audiences accepted in "aud" (a string or an array). Required unless
	// SkipAudienceCheck is set.
	Audiences []string
	// AZPFallback accepts a token whose "aud" does not match when its "azp"
	// (authorized party) is one of Audiences, as Keycloak's client
	// credentials tokens need ("aud" is often "account").
	AZPFallback bool
	// SkipAudienceCheck disables the audience check entirely.
	SkipAudienceCheck bool
	// Algorithms allowed in the token header (default DefaultAlgorithms).
	Algorithms []string
	// Leeway tolerated on time claims (default DefaultLeeway; negative means 0).
	Leeway *time.Duration
	// RequiredClaims must be present and not null.
	RequiredClaims []string
	// MaxAge, when positive, rejects tokens whose "iat" is older.
	MaxAge time.Duration
	// MaxTokenBytes bounds the token (default DefaultMaxTokenBytes).
	MaxTokenBytes int
}

// Provider is a validated ProviderConfig. It is immutable.
type Provider struct {
	issuer            string
	source            jwks.Source
	inline            *jwks.Set
	audiences         []string
	azpFallback       bool
	skipAudienceCheck bool
	algorithms        map[string]struct{}
	leeway            time.Duration
	requiredClaims    []string
	maxAge            time.Duration
	maxTokenBytes     int
}

var setIDs atomic.Uint64

// ProviderSet is the set of providers a token may come from; the token's
// "iss" selects the one it is checked against. It is immutable.
type ProviderSet struct {
	id       uint64
	byIssuer map[string]*Provider
	only     *Provider         // set when the set has exactly one provider
	maxBytes int               // the largest token any provider accepts
	broken   map[string]string // issuer -> what is wrong with its entry
}

// NewProviderSet groups providers; issuers must be unique.
func NewProviderSet(ps ...*Provider) (*ProviderSet, error) {
	if len(ps) == 0 {
		return nil, errors.New("no provider")
	}
	s := &ProviderSet{id: setIDs.Add(1), byIssuer: make(map[string]*Provider, len(ps))}
	for _, p := range ps {
		if _, dup := s.byIssuer[p.issuer]; dup {
			return nil, fmt.Errorf("issuer %q is listed twice", p.issuer)
		}
		s.byIssuer[p.issuer] = p
		s.maxBytes = max(s.maxBytes, p.maxTokenBytes)
	}
	if len(ps) == 1 {
		s.only = ps[0]
	}
	return s, nil
}

// NewIsolatedProviderSet groups the providers of a list in which some
// entries are broken: broken maps the issuer of each broken entry to what
// is wrong with it. A token of a broken issuer fails with invalid_provider
// (and so does one of an issuer listed twice); the other issuers are not
// affected, so one bad entry in a provider list does not stop every
// identity provider.
func NewIsolatedProviderSet(ps []*Provider, broken map[string]string) (*ProviderSet, error) {
	if len(ps)+len(broken) == 0 {
		return nil, errors.New("no provider")
	}
	s := &ProviderSet{id: setIDs.Add(1), byIssuer: make(map[string]*Provider, len(ps)), broken: map[string]string{}}
	for iss, msg := range broken {
		s.broken[iss] = msg
	}
	for _, p := range ps {
		if _, dup := s.byIssuer[p.issuer]; dup {
			s.broken[p.issuer] = fmt.Sprintf("issuer %q is listed twice", p.issuer)
		}
		s.byIssuer[p.issuer] = p
		s.maxBytes = max(s.maxBytes, p.maxTokenBytes)
	}
	for iss := range s.broken {
		delete(s.byIssuer, iss)
	}
	if len(s.broken) > 0 {
		// A token of a broken issuer must reach lookup to get its error.
		s.maxBytes = max(s.maxBytes, DefaultMaxTokenBytes)
	}
	if len(ps) == 1 && len(s.broken) == 0 {
		s.only = ps[0]
	}
	return s, nil
}

// MustProviderSet is NewProviderSet for one provider, which cannot fail.
func MustProviderSet(p *Provider) *ProviderSet {
	s, _ := NewProviderSet(p)
	return s
}

func (s *ProviderSet) lookup(iss string) (*Provider, *Error) {
	if p, ok := s.byIssuer[iss]; ok {
		return p, nil
	}
	if msg, ok := s.broken[iss]; ok {
		return nil, fail(CodeInvalidProvider, "the provider of issuer %q is misconfigured: %s", clip(iss), msg)
	}
	if s.only != nil {
		return nil, fail(CodeWrongIssuer, "token issuer %q is not the expected issuer %q", clip(iss), s.only.issuer)
	}
	return nil, fail(CodeWrongIssuer, "token issuer %q is not a trusted issuer", clip(iss))
}

// Issuer returns the issuer the provider trusts.
func (p *Provider) Issuer() string { return p.issuer }

// NewProvider validates cfg. allowInsecureHTTP permits plain-http key
// locations off the loopback interface.
func NewProvider(cfg ProviderConfig, allowInsecureHTTP bool) (*Provider, error) {
	if cfg.Issuer == "" {
		return nil, errors.New("issuer is required")
	}
	p := &Provider{
		issuer:            cfg.Issuer,
		audiences:         slices.Clone(cfg.Audiences),
		azpFallback:       cfg.AZPFallback,
		skipAudienceCheck: cfg.SkipAudienceCheck,
		leeway:            DefaultLeeway,
		requiredClaims:    slices.Clone(cfg.RequiredClaims),
		maxAge:            cfg.MaxAge,
		maxTokenBytes:     cfg.MaxTokenBytes,
	}
	sources := 0
	for _, s := range []bool{cfg.DiscoveryURL != "", cfg.JWKSURL != "", cfg.JWKS != nil} {
		if s {
			sources++
		}
	}
	if sources != 1 {
		return nil, errors.New("exactly one of discovery_url, jwks_url and jwks is required")
	}
	if cfg.JWKS != nil {
		p.inline = cfg.JWKS
	} else {
		p.source = jwks.Source{Issuer: cfg.Issuer, DiscoveryURL: cfg.DiscoveryURL, JWKSURL: cfg.JWKSURL}
		if err := p.source.Validate(allowInsecureHTTP); err != nil {
			return nil, err
		}
	}
	if len(p.audiences) == 0 && !p.skipAudienceCheck {
		return nil, errors.New("audiences is required (or set skip_audience_check)")
	}
	algs := cfg.Algorithms
	if len(algs) == 0 {
		algs = DefaultAlgorithms
	}
	p.algorithms = make(map[string]struct{}, len(algs))
	for _, a := range algs {
		if !slices.Contains(DefaultAlgorithms, a) {
			return nil, fmt.Errorf("algorithm %q is not supported (supported: %v)", a, DefaultAlgorithms)
		}
		p.algorithms[a] = struct{}{}
	}
	if cfg.Leeway != nil {
		p.leeway = max(*cfg.Leeway, 0)
		if p.leeway > MaxLeeway {
			return nil, fmt.Errorf("leeway %s is larger than the maximum %s", p.leeway, MaxLeeway)
		}
	}
	if p.maxAge < 0 {
		return nil, errors.New("max age must not be negative")
	}
	if p.maxTokenBytes <= 0 {
		p.maxTokenBytes = DefaultMaxTokenBytes
	}
	return p, nil
}
