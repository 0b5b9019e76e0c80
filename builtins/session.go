package builtins

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/topdown/builtins"
	"github.com/open-policy-agent/opa/v1/types"

	"github.com/opa-sts/opa-sts/internal/credentials"
	"github.com/opa-sts/opa-sts/internal/grant"
	"github.com/opa-sts/opa-sts/internal/jwtverify"
	"github.com/opa-sts/opa-sts/internal/sessions"
)

// Names of the session built-ins.
const (
	IssueCredentialsName = "sts.issue_credentials"
	VerifySessionName    = "sts.verify_session"
)

// EphemeralIssuer names the session tokens minted where no server runs
// (opa eval, opa test): they verify only in the same process.
const EphemeralIssuer = sessions.EphemeralIssuer

// AuthoritySource is a server's session authority: the core plugin, which
// calls Serve when it starts.
type AuthoritySource interface {
	// Authority returns the authority, or nil while there is none.
	Authority() *sessions.Authority
}

type serverRef struct{ src AuthoritySource }

// Serve tells the built-ins that they run in a server whose session
// authority src returns. From then on sts.verify_session verifies through
// it (refusing every session while it returns nil), and
// sts.issue_credentials mints only within the STS plugin's own decision.
func Serve(src AuthoritySource) { shared.server.Store(&serverRef{src: src}) }

var ephemeralOnce sync.Once

// ephemeral returns the process-local throwaway authority (created once)
// of evaluations without a server.
func (s *state) ephemeral() (*sessions.Authority, error) {
	var err error
	ephemeralOnce.Do(func() {
		var a *sessions.Authority
		if a, err = sessions.NewEphemeral(); err == nil {
			s.ephemeralAuthority.Store(a)
		}
	})
	if a := s.ephemeralAuthority.Load(); a != nil {
		return a, nil
	}
	if err == nil {
		err = errors.New("no throwaway keyring")
	}
	return nil, err
}

var anyObject = types.NewObject(nil, types.NewDynamicProperty(types.S, types.A))

var issueCredentialsDecl = &rego.Function{
	Name: IssueCredentialsName,
	Description: "Mints temporary S3 credentials for a grant: {\"subject\": string, \"duration_seconds\": number, " +
		"optional \"action\", \"source\" {iss, sub, client_id}, \"revision\", and any other members (permissions, tags), " +
		"which the session token carries}. Returns {access_key_id, secret_access_key, session_token, expiration, session_id, " +
		"issuer, ephemeral}. Without a server (opa eval, opa test) it mints with a throwaway keyring (ephemeral: true, issuer " +
		EphemeralIssuer + "); in a server it mints with the production keys only within the STS plugin's own decision, which " +
		"registers what it mints, and any other call is refused with an error. Nothing is stored by the built-in itself.",
	Decl: types.NewFunction(
		types.Args(types.Named("grant", anyObject).Description("what the credential allows")),
		types.Named("credentials", anyObject).Description("access_key_id, secret_access_key, session_token, expiration (RFC 3339), session_id, issuer, ephemeral"),
	),
	Nondeterministic: true,
}

var verifySessionDecl = &rego.Function{
	Name: VerifySessionName,
	Description: "Verifies a session token issued by this STS for an access key id. Returns {\"valid\": true, " +
		"\"session\": {access_key_id, session_id, subject, issued_at, expiration}, \"claims\": {...}, \"grant\": {...}} or " +
		"{\"valid\": false, \"error\": {\"code\", \"message\"}} (codes as sts.verify_token, plus access_key_mismatch, revoked, " +
		"not_ready while the revocations have not loaded, and not_configured in a server without a session authority). " +
		"Without a server it verifies the sessions of the throwaway keyring of sts.issue_credentials.",
	Decl: types.NewFunction(
		types.Args(
			types.Named("access_key_id", types.S).Description("the access key id the client signed with"),
			types.Named("session_token", types.S).Description("the X-Amz-Security-Token"),
		),
		types.Named("result", types.NewObject(
			[]*types.StaticProperty{types.NewStaticProperty("valid", types.B)},
			types.NewDynamicProperty(types.S, types.A),
		)).Description("the verification result"),
	),
	Nondeterministic: true,
}

func init() {
	rego.RegisterBuiltin1(issueCredentialsDecl, shared.issueCredentials)
	rego.RegisterBuiltin2(verifySessionDecl, shared.verifySession)
}

// errMintRefused is the error of sts.issue_credentials in a server
// outside the STS plugin's decision: OPA's REST API must not be a way to
// mint credentials with the production keys.
var errMintRefused = rego.NewHaltError(errors.New("refused: in a server, credentials are minted only by the STS plugin's own decision " +
	"(plugins.sts), never by another evaluation such as a query through OPA's API; " +
	"opa eval and opa test mint with a throwaway keyring"))

func (s *state) issueCredentials(bctx rego.BuiltinContext, grantTerm *ast.Term) (*ast.Term, error) {
	obj, err := builtins.ObjectOperand(grantTerm.Value, 1)
	if err != nil {
		return nil, err
	}
	g, err := grant.FromObject(obj)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", IssueCredentialsName, err)
	}
	var (
		c         credentials.Issued
		authority *sessions.Authority
	)
	if s.server.Load() != nil {
		scope := sessions.MintScopeFrom(bctx.Context)
		if scope == nil {
			return nil, errMintRefused
		}
		authority = scope.Authority()
		c, err = scope.Mint(g, evalTime(bctx))
	} else {
		if authority, err = s.ephemeral(); err != nil {
			return nil, fmt.Errorf("%s: %w", IssueCredentialsName, err)
		}
		c, err = authority.Mint(g, evalTime(bctx))
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", IssueCredentialsName, err)
	}
	return ast.ObjectTerm(
		ast.Item(ast.StringTerm("access_key_id"), ast.StringTerm(c.AccessKeyID)),
		ast.Item(ast.StringTerm("secret_access_key"), ast.StringTerm(c.SecretAccessKey)),
		ast.Item(ast.StringTerm("session_token"), ast.StringTerm(c.SessionToken)),
		ast.Item(ast.StringTerm("expiration"), ast.StringTerm(c.Expiration.Format(time.RFC3339))),
		ast.Item(ast.StringTerm("session_id"), ast.StringTerm(c.SessionID)),
		ast.Item(ast.StringTerm("issuer"), ast.StringTerm(authority.Issuer())),
		ast.Item(ast.StringTerm("ephemeral"), ast.BooleanTerm(authority.Ephemeral())),
	), nil
}

var keyGrant = ast.InternedTerm("grant")

func (s *state) verifySession(bctx rego.BuiltinContext, akidTerm, tokenTerm *ast.Term) (*ast.Term, error) {
	akid, err := builtins.StringOperand(akidTerm.Value, 1)
	if err != nil {
		return nil, err
	}
	token, err := builtins.StringOperand(tokenTerm.Value, 2)
	if err != nil {
		return nil, err
	}
	sess := sessions.VerifiedFrom(bctx.Context, string(akid), string(token))
	if sess == nil {
		authority, err := s.sessionAuthority()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", VerifySessionName, err)
		}
		if authority == nil {
			return failure(sessions.ErrNotConfigured), nil
		}
		var verr *jwtverify.Error
		if sess, verr = authority.Verify(bctx.Context, string(akid), string(token), evalTime(bctx)); verr != nil {
			return failure(verr), nil
		}
	}
	granted := sess.Claims.Get(keyGrant)
	if granted == nil {
		granted = ast.InternedEmptyObject
	}
	return ast.ObjectTerm(
		ast.Item(keyValid, validTrue),
		ast.Item(ast.StringTerm("session"), ast.ObjectTerm(
			ast.Item(ast.StringTerm("access_key_id"), ast.StringTerm(sess.AccessKeyID)),
			ast.Item(ast.StringTerm("session_id"), ast.StringTerm(sess.SessionID)),
			ast.Item(ast.StringTerm("subject"), ast.StringTerm(sess.Subject)),
			ast.Item(ast.StringTerm("issued_at"), ast.StringTerm(sess.IssuedAt.Format(time.RFC3339))),
			ast.Item(ast.StringTerm("expiration"), ast.StringTerm(sess.Expiration.Format(time.RFC3339))),
		)),
		ast.Item(keyClaims, ast.NewTerm(sess.Claims)),
		ast.Item(keyGrant, granted),
	), nil
}

// sessionAuthority is the authority sts.verify_session uses: the server's
// (nil while it has none), or the throwaway one without a server.
func (s *state) sessionAuthority() (*sessions.Authority, error) {
	if srv := s.server.Load(); srv != nil {
		return srv.src.Authority(), nil
	}
	return s.ephemeral()
}
