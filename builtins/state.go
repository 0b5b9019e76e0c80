package builtins

import (
	"sync/atomic"

	"github.com/opa-sts/opa-sts/internal/jwks"
	"github.com/opa-sts/opa-sts/internal/jwtverify"
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
	providers *providerCache
	policies  *policyCache
	mappings  *mappingCache
	sessions  atomic.Pointer[sessionKeys]
}

func newState(verifiedTokens int) *state {
	keys := jwks.New(jwks.Config{})
	return &state{
		keys:      keys,
		verifier:  jwtverify.NewVerifier(keys, verifiedTokens),
		providers: newProviderCache(1024),
		policies:  newPolicyCache(16384),
		mappings:  newMappingCache(64),
	}
}

var shared = newState(verifiedTokenCacheSize)

// JWKSCache returns the process-wide key set cache used by sts.verify_token,
// for plugins that export its metrics.
func JWKSCache() *jwks.Cache { return shared.keys }
