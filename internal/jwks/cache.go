package jwks

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/sync/singleflight"
)

// Source names where the keys of one issuer come from. Exactly one of
// DiscoveryURL and JWKSURL is set.
type Source struct {
	// Issuer is the exact "iss" the keys are trusted for.
	Issuer string
	// DiscoveryURL is an OpenID Connect discovery document whose "issuer"
	// must equal Issuer and whose "jwks_uri" names the key set.
	DiscoveryURL string
	// JWKSURL is the key set itself.
	JWKSURL string
}

func (s Source) key() string {
	if s.DiscoveryURL != "" {
		return s.Issuer + "\x00discovery\x00" + s.DiscoveryURL
	}
	return s.Issuer + "\x00jwks\x00" + s.JWKSURL
}

// Validate checks that the source is complete and that its URLs may be used.
func (s Source) Validate(allowInsecureHTTP bool) error {
	if s.Issuer == "" {
		return errors.New("issuer is empty")
	}
	switch {
	case s.DiscoveryURL != "" && s.JWKSURL != "":
		return errors.New("give either a discovery URL or a JWKS URL, not both")
	case s.DiscoveryURL != "":
		return checkURL(s.DiscoveryURL, allowInsecureHTTP)
	case s.JWKSURL != "":
		return checkURL(s.JWKSURL, allowInsecureHTTP)
	}
	return errors.New("no discovery URL or JWKS URL")
}

// ErrUnreachable wraps every failure to obtain a key set: the identity
// provider did not answer, answered with an error, or served something that
// is not a usable key set.
var ErrUnreachable = errors.New("identity provider key set unavailable")

// Config tunes a Cache. Zero values take the defaults named in each field.
type Config struct {
	// Size is the number of sources kept (default 256).
	Size int
	// MinTTL is the floor applied to the lifetime an IdP announces with
	// Cache-Control or Expires (default 1 minute).
	MinTTL time.Duration
	// MaxTTL is the ceiling (default 24 hours).
	MaxTTL time.Duration
	// DefaultTTL applies when the IdP announces no lifetime (default 15 minutes).
	DefaultTTL time.Duration
	// RefetchInterval is the least time between two fetches of one source
	// caused by tokens with an unknown kid (default 5 seconds). The first
	// unknown kid after a quiet interval refetches at once, so a rotation
	// at the IdP is picked up by the first token signed with the new key.
	RefetchInterval time.Duration
	// NegativeTTL is how long a failed fetch is remembered before the next
	// attempt (default 5 seconds).
	NegativeTTL time.Duration
	// MaxStale bounds how long after its expiry the last good key set is
	// still used while the IdP cannot be reached (default 24 hours).
	MaxStale time.Duration
	// Fetch configures HTTP fetches.
	Fetch FetchConfig
	// Now is the clock (default time.Now).
	Now func() time.Time
}

func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if c.Size <= 0 {
		c.Size = 256
	}
	def(&c.MinTTL, time.Minute)
	def(&c.MaxTTL, 24*time.Hour)
	def(&c.DefaultTTL, 15*time.Minute)
	def(&c.RefetchInterval, 5*time.Second)
	def(&c.NegativeTTL, 5*time.Second)
	def(&c.MaxStale, 24*time.Hour)
	if c.MaxTTL < c.MinTTL {
		c.MaxTTL = c.MinTTL
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	c.Fetch = c.Fetch.withDefaults()
	return c
}

// Timing is the part of a Cache's configuration that may change while it
// runs (SetTiming). Config's fields of the same names give the first one.
type Timing struct {
	MinTTL, MaxTTL, DefaultTTL time.Duration
	RefetchInterval            time.Duration
	NegativeTTL                time.Duration
	// MaxStale may be zero: an expired key set is then never used.
	MaxStale     time.Duration
	FetchTimeout time.Duration
}

// DefaultTiming is the timing of a Cache made with a zero Config.
func DefaultTiming() Timing {
	c := Config{}.withDefaults()
	return c.timing()
}

func (c Config) timing() Timing {
	return Timing{
		MinTTL: c.MinTTL, MaxTTL: c.MaxTTL, DefaultTTL: c.DefaultTTL,
		RefetchInterval: c.RefetchInterval, NegativeTTL: c.NegativeTTL,
		MaxStale: c.MaxStale, FetchTimeout: c.Fetch.Timeout,
	}
}

// Validate checks that t can be applied: every duration positive (MaxStale
// may be zero) and MinTTL <= DefaultTTL <= MaxTTL.
func (t Timing) Validate() error {
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"MinTTL", t.MinTTL}, {"MaxTTL", t.MaxTTL}, {"DefaultTTL", t.DefaultTTL},
		{"RefetchInterval", t.RefetchInterval}, {"NegativeTTL", t.NegativeTTL}, {"FetchTimeout", t.FetchTimeout}} {
		if d.v <= 0 {
			return fmt.Errorf("jwks timing: %s must be positive, is %v", d.name, d.v)
		}
	}
	if t.MaxStale < 0 {
		return fmt.Errorf("jwks timing: MaxStale must not be negative, is %v", t.MaxStale)
	}
	if t.MinTTL > t.DefaultTTL || t.DefaultTTL > t.MaxTTL {
		return fmt.Errorf("jwks timing: need MinTTL <= DefaultTTL <= MaxTTL, have %v, %v, %v", t.MinTTL, t.DefaultTTL, t.MaxTTL)
	}
	return nil
}

// Cache holds the key sets of many issuers. It is safe for concurrent use.
type Cache struct {
	cfg     Config
	timing  atomic.Pointer[Timing]
	fetcher *fetcher
	entries *lru.Cache[string, *entry]
	flight  singleflight.Group
	stats   counters
}

type entry struct {
	mu          sync.Mutex
	set         *Set      // last good key set, nil before the first success
	expiresAt   time.Time // when set should be refreshed
	jwksURL     string    // resolved from discovery
	lastAttempt time.Time // last fetch attempt, successful or not
	lastKIDHunt time.Time // last refetch caused by an unknown kid
	lastErr     error     // error of the last attempt, nil on success
}

type counters struct {
	hits, misses, fetches, fetchErrors, staleServed, refetchUnknownKID, refetchSuppressed atomic.Uint64
}

// Stats is a snapshot of the cache's counters.
type Stats struct {
	Hits              uint64 // key set served from the cache
	Misses            uint64 // no fresh key set: a fetch was needed
	Fetches           uint64 // HTTP fetches of a key set (with discovery: one per refresh)
	FetchErrors       uint64 // failed fetches
	StaleServed       uint64 // expired key set served because the IdP could not be reached
	RefetchUnknownKID uint64 // refreshes caused by an unknown kid
	RefetchSuppressed uint64 // unknown kids that did not cause a fetch (rate limit)
}

// New returns a cache with the given configuration.
func New(cfg Config) *Cache {
	cfg = cfg.withDefaults()
	entries, err := lru.New[string, *entry](cfg.Size)
	if err != nil {
		// Only possible for a non-positive size, which withDefaults rules out.
		panic(fmt.Sprintf("jwks: %v", err))
	}
	c := &Cache{cfg: cfg, fetcher: newFetcher(cfg.Fetch), entries: entries}
	t := cfg.timing()
	c.timing.Store(&t)
	return c
}

// SetTiming changes the cache's timing from now on. Lifetimes already
// given to cached key sets stand until they are next fetched; the stale
// window, the failure memory, the refetch interval and the fetch timeout
// apply at once. An invalid timing is refused and changes nothing.
func (c *Cache) SetTiming(t Timing) error {
	if err := t.Validate(); err != nil {
		return err
	}
	c.timing.Store(&t)
	return nil
}

// Timing returns the cache's current timing.
func (c *Cache) Timing() Timing { return *c.timing.Load() }

// Stats returns the current counters.
func (c *Cache) Stats() Stats {
	return Stats{
		Hits:              c.stats.hits.Load(),
		Misses:            c.stats.misses.Load(),
		Fetches:           c.stats.fetches.Load(),
		FetchErrors:       c.stats.fetchErrors.Load(),
		StaleServed:       c.stats.staleServed.Load(),
		RefetchUnknownKID: c.stats.refetchUnknownKID.Load(),
		RefetchSuppressed: c.stats.refetchSuppressed.Load(),
	}
}

// AllowsInsecureHTTP reports whether plain-http key locations outside the
// loopback interface are accepted.
func (c *Cache) AllowsInsecureHTTP() bool { return c.cfg.Fetch.AllowInsecureHTTP }

func (c *Cache) entry(src Source) *entry {
	k := src.key()
	if e, ok := c.entries.Get(k); ok {
		return e
	}
	e := &entry{}
	if prev, ok, _ := c.entries.PeekOrAdd(k, e); ok {
		return prev
	}
	return e
}

// Peek returns the key set currently cached for src without fetching, or nil.
func (c *Cache) Peek(src Source) *Set {
	e, ok := c.entries.Peek(src.key())
	if !ok {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.set
}

// Candidates returns the keys of src that may verify a token with the given
// kid and alg. It fetches the key set when none is cached or the cached one
// has expired, and refetches it once when the kid is unknown, at most once
// per RefetchInterval per source: a flood of tokens with random kids never
// becomes a flood of requests to the IdP. An empty result with a nil error
// means no such key exists. Errors wrap ErrUnreachable or come from ctx.
func (c *Cache) Candidates(ctx context.Context, src Source, kid, alg string) ([]*Key, error) {
	e := c.entry(src)
	set, err := c.current(ctx, src, e)
	if err != nil {
		return nil, err
	}
	if keys := set.Candidates(kid, alg); len(keys) > 0 {
		return keys, nil
	}
	if kid == "" {
		return nil, nil
	}
	// Unknown kid: the IdP may have rotated its keys.
	now := c.cfg.Now()
	e.mu.Lock()
	mayRefetch := now.Sub(e.lastKIDHunt) >= c.timing.Load().RefetchInterval
	if mayRefetch {
		e.lastKIDHunt = now
	}
	e.mu.Unlock()
	if !mayRefetch {
		c.stats.refetchSuppressed.Add(1)
		return nil, nil
	}
	c.stats.refetchUnknownKID.Add(1)
	set, err = c.refresh(ctx, src, e)
	if err != nil {
		// The IdP is down; the key set we had does not know this kid either.
		return nil, nil
	}
	return set.Candidates(kid, alg), nil
}

// current returns a usable key set for src: the cached one while it is
// fresh, a refreshed one, or the stale one while the IdP cannot be reached.
func (c *Cache) current(ctx context.Context, src Source, e *entry) (*Set, error) {
	now := c.cfg.Now()
	e.mu.Lock()
	set, expiresAt, lastAttempt, lastErr := e.set, e.expiresAt, e.lastAttempt, e.lastErr
	e.mu.Unlock()

	if set != nil && now.Before(expiresAt) {
		c.stats.hits.Add(1)
		return set, nil
	}
	c.stats.misses.Add(1)
	if lastErr != nil && now.Sub(lastAttempt) < c.timing.Load().NegativeTTL {
		// Negative cache: the last attempt failed moments ago.
		return c.staleOr(now, set, expiresAt, lastErr)
	}
	fresh, err := c.refresh(ctx, src, e)
	if err != nil {
		if ctx.Err() != nil {
			return nil, err
		}
		return c.staleOr(now, set, expiresAt, err)
	}
	return fresh, nil
}

func (c *Cache) staleOr(now time.Time, set *Set, expiresAt time.Time, err error) (*Set, error) {
	if set != nil && now.Before(expiresAt.Add(c.timing.Load().MaxStale)) {
		c.stats.staleServed.Add(1)
		return set, nil
	}
	return nil, err
}

// refresh fetches the key set of src once, however many callers ask at the
// same time. The fetch is not cancelled when one caller gives up; each
// caller waits only as long as its own context allows.
func (c *Cache) refresh(ctx context.Context, src Source, e *entry) (*Set, error) {
	ch := c.flight.DoChan(src.key(), func() (any, error) {
		fetchCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.timing.Load().FetchTimeout)
		defer cancel()
		return c.fetchInto(fetchCtx, src, e)
	})
	select {
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for the key set of %q: %w", src.Issuer, ctx.Err())
	case res := <-ch:
		if res.Err != nil {
			return nil, res.Err
		}
		return res.Val.(*Set), nil
	}
}

func (c *Cache) fetchInto(ctx context.Context, src Source, e *entry) (*Set, error) {
	e.mu.Lock()
	jwksURL := e.jwksURL
	e.mu.Unlock()
	if src.JWKSURL != "" {
		jwksURL = src.JWKSURL
	}

	c.stats.fetches.Add(1)
	set, resolvedURL, ttl, err := c.fetcher.keySet(ctx, src, jwksURL)
	now := c.cfg.Now()

	e.mu.Lock()
	defer e.mu.Unlock()
	e.lastAttempt = now
	if err != nil {
		c.stats.fetchErrors.Add(1)
		e.lastErr = err
		if src.DiscoveryURL != "" {
			// Rediscover next time: the jwks_uri itself may have moved.
			e.jwksURL = ""
		}
		return nil, err
	}
	e.lastErr = nil
	e.set = set
	e.jwksURL = resolvedURL
	t := c.timing.Load()
	e.expiresAt = now.Add(clamp(ttl, t.DefaultTTL, t.MinTTL, t.MaxTTL))
	return set, nil
}

func clamp(ttl, def, lo, hi time.Duration) time.Duration {
	if ttl <= 0 {
		ttl = def
	}
	return min(max(ttl, lo), hi)
}

// KeySet returns the usable key set of src, fetching or refreshing it as
// Candidates does, but without looking for a particular key.
func (c *Cache) KeySet(ctx context.Context, src Source) (*Set, error) {
	return c.current(ctx, src, c.entry(src))
}
