package builtins

import (
	"fmt"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/topdown/builtins"
	"github.com/open-policy-agent/opa/v1/types"

	"github.com/opa-sts/opa-sts/internal/rolemap"
)

// IdentityName is the name of the identity mapping built-in.
const IdentityName = "sts.identity"

var identityDecl = &rego.Function{
	Name: IdentityName,
	Description: "Resolves verified token claims to the identity the mapping rules give it: {\"client_id\", " +
		"\"subject\" (absent when the claims name none), \"roles\": [...], \"variables\": {\"jwt:<claim>\": ..., " +
		"\"aws:username\": ...}}. config holds \"providers\" (subject_claim, groups_claim) and \"bindings\" " +
		"({role, issuer, clients, subjects, scopes, groups, realm_roles, client_roles, claims}: every criterion a " +
		"binding names must hold). Compiled once per configuration value; malformed bindings are an error.",
	Decl: types.NewFunction(
		types.Args(
			types.Named("claims", anyObject).Description("verified token claims"),
			types.Named("config", anyObject).Description("providers and bindings"),
		),
		types.Named("identity", anyObject).Description("client_id, subject, roles, variables"),
	),
}

func init() {
	rego.RegisterBuiltin2(identityDecl, shared.identity)
}

var (
	keyClientID   = ast.InternedTerm("client_id")
	keySubject    = ast.InternedTerm("subject")
	keyRoles      = ast.InternedTerm("roles")
	keyVariables2 = keyVariables
)

func (s *state) identity(_ rego.BuiltinContext, claimsTerm, cfgTerm *ast.Term) (*ast.Term, error) {
	claims, err := builtins.ObjectOperand(claimsTerm.Value, 1)
	if err != nil {
		return nil, err
	}
	cfgObj, err := builtins.ObjectOperand(cfgTerm.Value, 2)
	if err != nil {
		return nil, err
	}
	cfg, err := s.mappings.get(cfgObj)
	if err != nil {
		return nil, fmt.Errorf("%s: invalid mapping configuration: %w", IdentityName, err)
	}
	id := cfg.Resolve(claims)
	roles := make([]*ast.Term, len(id.Roles))
	for i, r := range id.Roles {
		roles[i] = ast.StringTerm(r)
	}
	items := [][2]*ast.Term{
		{keyClientID, ast.StringTerm(id.ClientID)},
		{keyRoles, ast.ArrayTerm(roles...)},
		{keyVariables2, ast.NewTerm(rolemap.Variables(claims, id.Subject))},
	}
	if id.Subject != "" {
		items = append(items, [2]*ast.Term{keySubject, ast.StringTerm(id.Subject)})
	}
	return ast.ObjectTerm(items...), nil
}
