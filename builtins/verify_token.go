package builtins

import (
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/topdown/builtins"
	"github.com/open-policy-agent/opa/v1/types"

	"github.com/opa-sts/opa-sts/internal/jwtverify"
)

// VerifyTokenName is the name of the token verification built-in.
const VerifyTokenName = "sts.verify_token"

var verifyTokenDecl = &rego.Function{
	Name: VerifyTokenName,
	Description: "Verifies a JWT issued by an OpenID Connect / OAuth2 identity provider against the provider's " +
		"published keys (OIDC discovery, a JWKS URL, or an inline JWKS), and checks issuer, audience, algorithm, " +
		"time claims and required claims. Returns {\"valid\": true, \"header\": {...}, \"claims\": {...}} or " +
		"{\"valid\": false, \"error\": {\"code\": ..., \"message\": ...}} with a stable code (malformed, " +
		"unsupported_algorithm, unknown_key, bad_signature, expired, not_yet_valid, wrong_issuer, " +
		"wrong_audience, missing_claim, idp_unreachable, invalid_provider). Key sets and verified tokens are " +
		"cached process-wide.",
	Decl: types.NewFunction(
		types.Args(
			types.Named("token", types.S).Description("the JWT, in compact serialization"),
			types.Named("provider", types.NewAny(
				types.NewObject(nil, types.NewDynamicProperty(types.S, types.A)),
				types.NewArray(nil, types.NewObject(nil, types.NewDynamicProperty(types.S, types.A))),
				types.NewSet(types.NewObject(nil, types.NewDynamicProperty(types.S, types.A))),
			)).Description("a provider object (issuer, one of discovery_url / jwks_url / jwks, audiences, azp_fallback, "+
				"skip_audience_check, algorithms, leeway_seconds, required_claims, max_age_seconds, max_token_bytes), "+
				"or an array or set of them: the token's iss selects the provider"),
		),
		types.Named("result", types.NewObject(
			[]*types.StaticProperty{types.NewStaticProperty("valid", types.B)},
			types.NewDynamicProperty(types.S, types.A),
		)).Description("the verification result"),
	),
	// The result depends on the clock and on remote key sets.
	Nondeterministic: true,
}

func init() {
	rego.RegisterBuiltin2(verifyTokenDecl, shared.verifyToken)
}

var (
	validTrue  = ast.InternedTerm(true)
	validFalse = ast.InternedTerm(false)
	keyValid   = ast.InternedTerm("valid")
	keyHeader  = ast.InternedTerm("header")
	keyClaims  = ast.InternedTerm("claims")
	keyError   = ast.InternedTerm("error")
	keyCode    = ast.InternedTerm("code")
	keyMessage = ast.InternedTerm("message")
)

func (s *state) verifyToken(bctx rego.BuiltinContext, tokenTerm, providerTerm *ast.Term) (*ast.Term, error) {
	token, err := builtins.StringOperand(tokenTerm.Value, 1)
	if err != nil {
		return nil, err
	}
	switch providerTerm.Value.(type) {
	case ast.Object, *ast.Array, ast.Set:
	default:
		return nil, builtins.NewOperandTypeErr(2, providerTerm.Value, "object", "array", "set")
	}
	provider, err := s.providers.get(providerTerm.Value)
	if err != nil {
		return failure(&jwtverify.Error{Code: jwtverify.CodeInvalidProvider, Message: err.Error()}), nil
	}
	verified, verr := s.verifier.Verify(bctx.Context, string(token), provider, evalTime(bctx))
	if verr != nil {
		return failure(verr), nil
	}
	rendered, err := verified.Render(renderVerified)
	if err != nil {
		return failure(&jwtverify.Error{Code: jwtverify.CodeMalformed, Message: "token content cannot be represented"}), nil
	}
	return rendered.(*ast.Term), nil
}

func renderVerified(v *jwtverify.Verified) (any, error) {
	return ast.ObjectTerm(
		ast.Item(keyValid, validTrue),
		ast.Item(keyHeader, ast.NewTerm(v.Header)),
		ast.Item(keyClaims, ast.NewTerm(v.Claims)),
	), nil
}

func failure(e *jwtverify.Error) *ast.Term {
	return ast.ObjectTerm(
		ast.Item(keyValid, validFalse),
		ast.Item(keyError, ast.ObjectTerm(
			ast.Item(keyCode, ast.StringTerm(string(e.Code))),
			ast.Item(keyMessage, ast.StringTerm(e.Message)),
		)),
	)
}

// evalTime is the evaluation's clock (fixed for one query), or now.
func evalTime(bctx rego.BuiltinContext) time.Time {
	if bctx.Time != nil {
		if n, ok := bctx.Time.Value.(ast.Number); ok {
			if ns, ok := n.Int64(); ok {
				return time.Unix(0, ns)
			}
		}
	}
	return time.Now()
}
