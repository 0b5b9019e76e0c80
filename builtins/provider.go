package builtins

import (
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/opa-sts/opa-sts/internal/astutil"
	"github.com/opa-sts/opa-sts/internal/jwks"
	"github.com/opa-sts/opa-sts/internal/jwtverify"
)

// parseProviders accepts one provider object, or an array or set of them
// (the token's "iss" then selects the provider).
func parseProviders(v ast.Value, allowInsecureHTTP bool) (*jwtverify.ProviderSet, error) {
	var terms []*ast.Term
	switch v := v.(type) {
	case ast.Object:
		p, err := parseProvider(v, allowInsecureHTTP)
		if err != nil {
			return nil, err
		}
		return jwtverify.MustProviderSet(p), nil
	case *ast.Array:
		for i := range v.Len() {
			terms = append(terms, v.Elem(i))
		}
	case ast.Set:
		terms = v.Slice()
	default:
		return nil, fmt.Errorf("providers must be an object or an array of objects")
	}
	if len(terms) == 0 {
		return nil, fmt.Errorf("the provider list is empty")
	}
	// An entry that names its issuer but is otherwise wrong breaks only
	// that issuer; an entry without a usable issuer cannot be told apart
	// from the others, so it fails the whole list (closed).
	ps := make([]*jwtverify.Provider, 0, len(terms))
	broken := map[string]string{}
	for i, t := range terms {
		p, err := parseProvider(t.Value, allowInsecureHTTP)
		if err == nil {
			ps = append(ps, p)
			continue
		}
		iss, ok := issuerOf(t.Value)
		if !ok {
			return nil, fmt.Errorf("provider %d: %w", i, err)
		}
		broken[iss] = fmt.Sprintf("provider %d: %v", i, err)
	}
	return jwtverify.NewIsolatedProviderSet(ps, broken)
}

// issuerOf returns the non-empty string issuer of a provider entry.
func issuerOf(v ast.Value) (string, bool) {
	obj, ok := v.(ast.Object)
	if !ok {
		return "", false
	}
	t := obj.Get(ast.StringTerm("issuer"))
	if t == nil {
		return "", false
	}
	s, ok := t.Value.(ast.String)
	return string(s), ok && s != ""
}

// parseProvider turns the provider object of sts.verify_token into a
// validated provider. Members it does not know are ignored, so that policy
// data can keep other settings (group claims, role mappings) next to them.
func parseProvider(v ast.Value, allowInsecureHTTP bool) (*jwtverify.Provider, error) {
	obj, ok := v.(ast.Object)
	if !ok {
		return nil, fmt.Errorf("provider must be an object")
	}
	var cfg jwtverify.ProviderConfig
	var err error
	str := func(name string, dst *string) {
		if err != nil {
			return
		}
		if t := obj.Get(ast.StringTerm(name)); t != nil {
			s, ok := t.Value.(ast.String)
			if !ok {
				err = fmt.Errorf("%s must be a string", name)
				return
			}
			*dst = string(s)
		}
	}
	boolean := func(name string, dst *bool) {
		if err != nil {
			return
		}
		if t := obj.Get(ast.StringTerm(name)); t != nil {
			b, ok := t.Value.(ast.Boolean)
			if !ok {
				err = fmt.Errorf("%s must be a boolean", name)
				return
			}
			*dst = bool(b)
		}
	}
	strings := func(name string, dst *[]string) {
		if err != nil {
			return
		}
		if t := obj.Get(ast.StringTerm(name)); t != nil {
			*dst, err = stringList(name, t.Value)
		}
	}
	// number reads a non-negative number no larger than limit; ok reports
	// whether the member is present.
	number := func(name string, limit float64) (f float64, ok bool) {
		if err != nil {
			return 0, false
		}
		t := obj.Get(ast.StringTerm(name))
		if t == nil {
			return 0, false
		}
		n, isNum := t.Value.(ast.Number)
		f, okf := n.Float64()
		if !isNum || !okf || math.IsNaN(f) || f < 0 || f > limit {
			err = fmt.Errorf("%s must be a number between 0 and %g", name, limit)
			return 0, false
		}
		return f, true
	}
	const tenYears = 10 * 365 * 24 * 3600

	str("issuer", &cfg.Issuer)
	str("discovery_url", &cfg.DiscoveryURL)
	str("jwks_url", &cfg.JWKSURL)
	strings("audiences", &cfg.Audiences)
	boolean("azp_fallback", &cfg.AZPFallback)
	boolean("skip_audience_check", &cfg.SkipAudienceCheck)
	strings("algorithms", &cfg.Algorithms)
	strings("required_claims", &cfg.RequiredClaims)
	if f, ok := number("leeway_seconds", tenYears); ok {
		d := time.Duration(f * float64(time.Second))
		cfg.Leeway = &d
	}
	if f, ok := number("max_age_seconds", tenYears); ok {
		cfg.MaxAge = time.Duration(f * float64(time.Second))
	}
	if f, ok := number("max_token_bytes", 1<<20); ok {
		cfg.MaxTokenBytes = int(f)
	}
	if err != nil {
		return nil, err
	}
	if t := obj.Get(ast.StringTerm("jwks")); t != nil {
		set, err := inlineKeySet(t.Value)
		if err != nil {
			return nil, err
		}
		cfg.JWKS = set
	}
	return jwtverify.NewProvider(cfg, allowInsecureHTTP)
}

func stringList(name string, v ast.Value) ([]string, error) {
	out, err := astutil.Strings(v)
	if err != nil {
		return nil, fmt.Errorf("%s %w", name, err)
	}
	return out, nil
}

// inlineKeySet accepts a JWKS given as an object or as a JSON string.
func inlineKeySet(v ast.Value) (*jwks.Set, error) {
	var raw []byte
	switch v := v.(type) {
	case ast.String:
		raw = []byte(v)
	case ast.Object:
		native, err := ast.JSON(v)
		if err != nil {
			return nil, fmt.Errorf("jwks: %w", err)
		}
		if raw, err = json.Marshal(native); err != nil {
			return nil, fmt.Errorf("jwks: %w", err)
		}
	default:
		return nil, fmt.Errorf("jwks must be an object or a JSON string")
	}
	set, err := jwks.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	return set, nil
}
