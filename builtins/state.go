package builtins

import (
	"errors"
	"sync/atomic"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/opa-sts/opa-sts/internal/iam"
	"github.com/opa-sts/opa-sts/internal/jwks"
	"github.com/opa-sts/opa-sts/internal/jwtverify"
	"github.com/opa-sts/opa-sts/internal/rolemap"
	"github.com/opa-sts/opa-sts/internal/sessions"
)

// verifiedTokenCacheSize bounds the cache of verified tokens.
const verifiedTokenCacheSize = 16384

// state is what the sts.* built-ins share across queries in one process: the
// JWKS cache and the verified-token cache. It is created once, when the
// built-ins are registered, because built-ins are process-wide in OPA and
// must work where OPA's own inter-query caches are absent (opa eval,
// opa test).
type state struct {
	keys      *jwks.Cache
	verifier  *jwtverify.Verifier
	providers *valueCache[*jwtverify.ProviderSet]
	policies  *valueCache[*iam.Policy]
	mappings  *valueCache[*rolemap.Config]
	// server is set once the core plugin of a server runs (Serve).
	server             atomic.Pointer[serverRef]
	ephemeralAuthority atomic.Pointer[sessions.Authority]
	// dataEpoch counts data commits to the server's store (DataChanged).
	dataEpoch atomic.Uint64
}

func newState(verifiedTokens int) *state {
	keys := jwks.New(jwks.Config{})
	s := &state{keys: keys, verifier: jwtverify.NewVerifier(keys, verifiedTokens)}
	s.providers = newValueCache(1024, &s.dataEpoch, func(v ast.Value) (*jwtverify.ProviderSet, error) {
		return parseProviders(v, keys.AllowsInsecureHTTP())
	})
	s.policies = newValueCache(16384, &s.dataEpoch, compilePolicy)
	s.mappings = newValueCache(64, &s.dataEpoch, func(v ast.Value) (*rolemap.Config, error) {
		o, ok := v.(ast.Object)
		if !ok {
			return nil, errors.New("the mapping configuration must be an object")
		}
		return rolemap.Compile(o)
	})
	return s
}

var shared = newState(verifiedTokenCacheSize)

// DataChanged tells the built-ins that data was committed to the store
// they read from. OPA's in-memory store changes objects in place, so the
// compiled-value caches stop trusting object identity and compare once
// more. The server calls it from a store trigger (internal/core);
// opa eval and opa test never change data during evaluation.
func DataChanged() { shared.dataEpoch.Add(1) }

// SetVerifiedTokenCacheSize bounds the cache of identity tokens
// sts.verify_token has verified (default 16384): the core plugin applies
// plugins.sts_sessions.identity_token_cache_size.
func SetVerifiedTokenCacheSize(n int) {
	if n <= 0 {
		n = verifiedTokenCacheSize
	}
	shared.verifier.ResizeCache(n)
}

// SetJWKSTiming changes the lifetimes, refetch interval, failure memory,
// stale window and fetch timeout of the process-wide key-set cache: the
// core plugin applies plugins.sts_sessions.jwks. An invalid timing is
// refused and changes nothing.
func SetJWKSTiming(t jwks.Timing) error { return shared.keys.SetTiming(t) }

// JWKSCache returns the process-wide key set cache used by sts.verify_token,
// for plugins that export its metrics.
func JWKSCache() *jwks.Cache { return shared.keys }
