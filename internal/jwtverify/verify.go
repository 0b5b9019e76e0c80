package jwtverify

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/opa-sts/opa-sts/internal/jsonast"
	"github.com/opa-sts/opa-sts/internal/jwks"
)

// maxCandidateKeys bounds how many keys are tried for a token without kid.
const maxCandidateKeys = 8

// Verified is a token whose signature and claims were checked. It is shared
// between callers that present the same token and must not be modified.
type Verified struct {
	// Header and Claims are the decoded JOSE header and claims set.
	Header ast.Object
	Claims ast.Object

	provider       *Provider
	exp, nbf, iat  float64
	hasNbf, hasIat bool
	keyThumbprint  string
	renderOnce     sync.Once
	rendered       any
	renderErr      error
}

// Render returns f(v), computing it only once per verified token. Callers
// use it to keep a converted form (for example a Rego value) of a token that
// is presented again.
func (v *Verified) Render(f func(*Verified) (any, error)) (any, error) {
	v.renderOnce.Do(func() { v.rendered, v.renderErr = f(v) })
	return v.rendered, v.renderErr
}

// Verifier checks tokens. It is safe for concurrent use.
type Verifier struct {
	keys    *jwks.Cache
	results *lru.Cache[resultKey, *Verified]
}

type resultKey struct {
	token    [sha256.Size]byte
	provider uint64
}

// NewVerifier returns a verifier that takes remote keys from keys and
// remembers up to resultCacheSize verified tokens (0 disables that cache).
func NewVerifier(keys *jwks.Cache, resultCacheSize int) *Verifier {
	v := &Verifier{keys: keys}
	if resultCacheSize > 0 {
		v.results, _ = lru.New[resultKey, *Verified](resultCacheSize)
	}
	return v
}

// ResizeCache changes how many verified tokens are remembered (n > 0; a
// verifier built without a cache keeps none).
func (v *Verifier) ResizeCache(n int) {
	if v.results != nil && n > 0 {
		v.results.Resize(n)
	}
}

// Verify checks token at time now against the provider of set that its
// "iss" names. A token presented again is answered from a cache of verified
// tokens, which re-checks the time claims and that the signing key is still
// published.
func (v *Verifier) Verify(ctx context.Context, token string, set *ProviderSet, now time.Time) (*Verified, *Error) {
	if len(token) > set.maxBytes {
		return nil, fail(CodeMalformed, "token is larger than %d bytes", set.maxBytes)
	}
	var rk resultKey
	if v.results != nil {
		rk = resultKey{token: sha256.Sum256([]byte(token)), provider: set.id}
		if hit, ok := v.results.Get(rk); ok {
			if v.stillValid(ctx, hit, now) {
				return hit, nil
			}
			v.results.Remove(rk)
		}
	}
	res, err := v.verify(ctx, token, set, now)
	if err != nil {
		return nil, err
	}
	if v.results != nil {
		v.results.Add(rk, res)
	}
	return res, nil
}

func (v *Verifier) stillValid(ctx context.Context, res *Verified, now time.Time) bool {
	p := res.provider
	if checkTimes(res, p, now) != nil {
		return false
	}
	if p.inline != nil {
		return true
	}
	set, err := v.keys.KeySet(ctx, p.source)
	return err == nil && set.HasThumbprint(res.keyThumbprint)
}

// strictB64 decodes the one canonical base64url form: no padding, and no
// set bits after the last full byte.
var strictB64 = base64.RawURLEncoding.Strict()

// errNotBase64URL: a byte outside the base64url alphabet.
var errNotBase64URL = errors.New("not base64url")

// decodeSegment base64url-decodes seg into buf (which must be large
// enough) and returns the decoded bytes. Only the canonical form is
// accepted: Go's decoder skips CR and LF anywhere, and accepts set bits
// after the last byte, so one token would otherwise have many spellings
// (and many fingerprints and cache entries).
func decodeSegment(buf []byte, seg string) ([]byte, error) {
	for i := 0; i < len(seg); i++ {
		c := seg[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return nil, errNotBase64URL
		}
	}
	n, err := strictB64.Decode(buf, []byte(seg))
	if err != nil {
		return nil, err
	}
	return buf[:n], nil
}

// Interned member names.
var (
	nameAlg  = ast.StringTerm("alg")
	nameKid  = ast.StringTerm("kid")
	nameTyp  = ast.StringTerm("typ")
	nameCty  = ast.StringTerm("cty")
	nameCrit = ast.StringTerm("crit")
	nameEnc  = ast.StringTerm("enc")
	nameZip  = ast.StringTerm("zip")
	nameIss  = ast.StringTerm("iss")
	nameAud  = ast.StringTerm("aud")
	nameAzp  = ast.StringTerm("azp")
	nameExp  = ast.StringTerm("exp")
	nameNbf  = ast.StringTerm("nbf")
	nameIat  = ast.StringTerm("iat")
)

// str returns the string member name of obj, if it is a string.
func str(obj ast.Object, name *ast.Term) (string, bool) {
	t := obj.Get(name)
	if t == nil {
		return "", false
	}
	s, ok := t.Value.(ast.String)
	return string(s), ok
}

func (v *Verifier) verify(ctx context.Context, token string, set *ProviderSet, now time.Time) (*Verified, *Error) {
	// Structure: exactly three base64url segments (five would be a JWE).
	first := strings.IndexByte(token, '.')
	last := strings.LastIndexByte(token, '.')
	if first <= 0 || first == last {
		return nil, fail(CodeMalformed, "token is not a compact JWS (header.payload.signature)")
	}
	if strings.Count(token, ".") != 2 {
		return nil, fail(CodeMalformed, "encrypted (JWE) or otherwise unexpected token structure is not supported")
	}
	headerSeg, payloadSeg, sigSeg := token[:first], token[first+1:last], token[last+1:]

	// One buffer holds the three decoded segments; nothing keeps it.
	enc := base64.RawURLEncoding
	buf := make([]byte, enc.DecodedLen(len(headerSeg))+enc.DecodedLen(len(payloadSeg))+enc.DecodedLen(len(sigSeg)))
	rawHeader, err := decodeSegment(buf, headerSeg)
	if err != nil {
		return nil, fail(CodeMalformed, "token header is not base64url-encoded JSON object")
	}
	header, err := jsonast.DecodeObject(rawHeader)
	if err != nil {
		return nil, fail(CodeMalformed, "token header is not base64url-encoded JSON object")
	}
	alg, e := checkHeader(header)
	if e != nil {
		return nil, e
	}
	rest := buf[len(rawHeader):]
	rawClaims, err := decodeSegment(rest, payloadSeg)
	if err != nil {
		return nil, fail(CodeMalformed, "token claims are not a base64url-encoded JSON object")
	}
	claims, err := jsonast.DecodeObject(rawClaims)
	if err != nil {
		return nil, fail(CodeMalformed, "token claims are not a base64url-encoded JSON object")
	}
	sig, err := decodeSegment(rest[len(rawClaims):], sigSeg)
	if err != nil || len(sig) == 0 {
		return nil, fail(CodeMalformed, "token signature is not base64url-encoded")
	}

	// The issuer selects the provider before any key is looked up, so a
	// token naming an untrusted issuer never causes a fetch.
	iss, ok := str(claims, nameIss)
	if !ok {
		return nil, fail(CodeWrongIssuer, "token has no issuer (iss)")
	}
	p, e := set.lookup(iss)
	if e != nil {
		return nil, e
	}
	if len(token) > p.maxTokenBytes {
		return nil, fail(CodeMalformed, "token is larger than %d bytes", p.maxTokenBytes)
	}
	if _, ok := p.algorithms[alg]; !ok {
		return nil, fail(CodeUnsupportedAlgorithm, "algorithm %q is not allowed for this issuer", clip(alg))
	}

	kid, _ := str(header, nameKid)
	keys, e := v.candidates(ctx, p, kid, alg)
	if e != nil {
		return nil, e
	}
	key, e := verifySignature(alg, []byte(token[:last]), sig, keys)
	if e != nil {
		return nil, e
	}

	res := &Verified{Header: header, Claims: claims, provider: p, keyThumbprint: key.Thumbprint}
	if e := readTimes(res); e != nil {
		return nil, e
	}
	if e := checkTimes(res, p, now); e != nil {
		return nil, e
	}
	if e := checkAudience(claims, p); e != nil {
		return nil, e
	}
	for _, c := range p.requiredClaims {
		if val := claims.Get(ast.StringTerm(c)); val == nil || ast.NullTerm().Equal(val) {
			return nil, fail(CodeMissingClaim, "required claim %q is missing", clip(c))
		}
	}
	return res, nil
}

// checkHeader validates the JOSE header and returns the algorithm. The
// provider's own allow-list is applied once the issuer is known.
func checkHeader(h ast.Object) (string, *Error) {
	alg, ok := str(h, nameAlg)
	if !ok || alg == "" {
		return "", fail(CodeMalformed, "token header has no algorithm (alg)")
	}
	if strings.EqualFold(alg, "none") {
		return "", fail(CodeUnsupportedAlgorithm, "unsigned tokens (alg none) are never accepted")
	}
	if !slices.Contains(DefaultAlgorithms, alg) {
		return "", fail(CodeUnsupportedAlgorithm, "algorithm %q is not supported", clip(alg))
	}
	if h.Get(nameCrit) != nil {
		return "", fail(CodeMalformed, "token header has critical extensions (crit), which are not supported")
	}
	if h.Get(nameEnc) != nil {
		return "", fail(CodeMalformed, "encrypted tokens (JWE) are not supported")
	}
	if h.Get(nameZip) != nil {
		return "", fail(CodeMalformed, "compressed tokens are not supported")
	}
	if h.Get(nameKid) != nil {
		if _, isString := str(h, nameKid); !isString {
			return "", fail(CodeMalformed, "token header kid is not a string")
		}
	}
	if cty, _ := str(h, nameCty); strings.EqualFold(cty, "JWT") {
		return "", fail(CodeMalformed, "nested tokens are not supported")
	}
	if h.Get(nameTyp) != nil {
		s, _ := str(h, nameTyp)
		switch strings.ToLower(strings.TrimPrefix(strings.ToLower(s), "application/")) {
		case "jwt", "at+jwt":
		default:
			return "", fail(CodeMalformed, "token type %q is not accepted (JWT or at+jwt)", clip(s))
		}
	}
	return alg, nil
}

func (v *Verifier) candidates(ctx context.Context, p *Provider, kid, alg string) ([]*jwks.Key, *Error) {
	var keys []*jwks.Key
	if p.inline != nil {
		keys = p.inline.Candidates(kid, alg)
	} else {
		var err error
		keys, err = v.keys.Candidates(ctx, p.source, kid, alg)
		if err != nil {
			if ctx.Err() != nil {
				return nil, fail(CodeIDPUnreachable, "gave up waiting for the key set of the issuer: %v", ctx.Err())
			}
			return nil, fail(CodeIDPUnreachable, "the key set of the issuer could not be obtained")
		}
	}
	if len(keys) == 0 {
		if kid != "" {
			return nil, fail(CodeUnknownKey, "the issuer publishes no %s key with kid %q", alg, clip(kid))
		}
		return nil, fail(CodeUnknownKey, "the issuer publishes no %s key", alg)
	}
	return keys, nil
}

func verifySignature(alg string, signingInput, sig []byte, keys []*jwks.Key) (*jwks.Key, *Error) {
	verifier, err := jws.NewVerifier(jwa.SignatureAlgorithm(alg))
	if err != nil {
		return nil, fail(CodeUnsupportedAlgorithm, "algorithm %q is not supported", clip(alg))
	}
	for i, k := range keys {
		if i == maxCandidateKeys {
			break
		}
		if verifier.Verify(signingInput, sig, k.Public) == nil {
			return k, nil
		}
	}
	return nil, fail(CodeBadSignature, "token signature does not verify")
}

func numericDate(claims ast.Object, name *ast.Term) (float64, bool, *Error) {
	raw := claims.Get(name)
	if raw == nil {
		return 0, false, nil
	}
	if _, isNull := raw.Value.(ast.Null); isNull {
		return 0, false, nil
	}
	n, ok := raw.Value.(ast.Number)
	if !ok {
		return 0, false, fail(CodeMalformed, "claim %v is not a number", name)
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false, fail(CodeMalformed, "claim %v is not a valid number", name)
	}
	return f, true, nil
}

func readTimes(res *Verified) *Error {
	exp, ok, e := numericDate(res.Claims, nameExp)
	if e != nil {
		return e
	}
	if !ok {
		return fail(CodeMissingClaim, "token has no expiry (exp)")
	}
	res.exp = exp
	if res.nbf, res.hasNbf, e = numericDate(res.Claims, nameNbf); e != nil {
		return e
	}
	if res.iat, res.hasIat, e = numericDate(res.Claims, nameIat); e != nil {
		return e
	}
	return nil
}

func checkTimes(res *Verified, p *Provider, now time.Time) *Error {
	t := float64(now.UnixNano()) / 1e9
	leeway := p.leeway.Seconds()
	// RFC 7519 4.1.4: the token must not be accepted on or after exp.
	if t >= res.exp+leeway {
		return fail(CodeExpired, "token expired at %s", unixString(res.exp))
	}
	if res.hasNbf && res.nbf > t+leeway {
		return fail(CodeNotYetValid, "token is not valid before %s", unixString(res.nbf))
	}
	if res.hasIat && res.iat > t+leeway {
		return fail(CodeNotYetValid, "token was issued in the future (%s)", unixString(res.iat))
	}
	if p.maxAge > 0 {
		if !res.hasIat {
			return fail(CodeMissingClaim, "token has no issue time (iat), which max_age requires")
		}
		if t > res.iat+p.maxAge.Seconds()+leeway {
			return fail(CodeExpired, "token was issued at %s, more than %s ago", unixString(res.iat), p.maxAge)
		}
	}
	return nil
}

func checkAudience(claims ast.Object, p *Provider) *Error {
	if p.skipAudienceCheck {
		return nil
	}
	if aud := claims.Get(nameAud); aud != nil {
		switch aud := aud.Value.(type) {
		case ast.String:
			if containsString(p.audiences, string(aud)) {
				return nil
			}
		case *ast.Array:
			for i := range aud.Len() {
				if s, ok := aud.Elem(i).Value.(ast.String); ok && containsString(p.audiences, string(s)) {
					return nil
				}
			}
		}
	}
	if p.azpFallback {
		if azp, ok := str(claims, nameAzp); ok && containsString(p.audiences, azp) {
			return nil
		}
	}
	return fail(CodeWrongAudience, "token audience is not one of the accepted audiences")
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func unixString(secs float64) string {
	if secs > 253402300799 || secs < -62135596800 { // outside years 0001..9999
		return "an out-of-range time"
	}
	return time.Unix(int64(secs), 0).UTC().Format(time.RFC3339)
}

// clip shortens values taken from an untrusted token before they are put
// into a message.
func clip(s string) string {
	const n = 100
	if len(s) > n {
		s = s[:n] + "..."
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}
