package builtins

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/topdown/builtins"
	"github.com/open-policy-agent/opa/v1/types"

	"github.com/opa-sts/opa-sts/internal/credentials"
	"github.com/opa-sts/opa-sts/internal/jwtverify"
	"github.com/opa-sts/opa-sts/internal/keyring"
)

// Names of the session built-ins.
const (
	IssueCredentialsName = "sts.issue_credentials"
	VerifySessionName    = "sts.verify_session"
)

// CodeRevoked is the sts.verify_session error code of a revoked session.
const CodeRevoked jwtverify.Code = "revoked"

// EphemeralIssuer names the session tokens minted where no keyring is
// configured (opa eval, opa test): they verify only in the same process.
const EphemeralIssuer = "urn:opa-sts:ephemeral"

// sessionKeys is the keyring-bound half of the built-ins' state.
type sessionKeys struct {
	minter   *credentials.Minter
	verifier *credentials.SessionVerifier
	revoked  func(*credentials.Session) bool // nil: no revocations
}

func newSessionKeys(issuer string, kr *keyring.Keyring) (*sessionKeys, error) {
	m, err := credentials.NewMinter(issuer, kr)
	if err != nil {
		return nil, err
	}
	v, err := credentials.NewSessionVerifier(issuer, kr, verifiedTokenCacheSize)
	if err != nil {
		return nil, err
	}
	return &sessionKeys{minter: m, verifier: v}, nil
}

// ConfigureSessions makes sts.issue_credentials and sts.verify_session use
// the STS's keyring and issuer name, and revoked (which may be nil) to
// refuse revoked sessions. The STS plugin calls it when it starts and when
// its configuration changes.
func ConfigureSessions(issuer string, kr *keyring.Keyring, revoked func(*credentials.Session) bool) error {
	k, err := newSessionKeys(issuer, kr)
	if err != nil {
		return err
	}
	k.revoked = revoked
	shared.sessions.Store(k)
	return nil
}

var ephemeralOnce sync.Once

// sessionKeys returns the configured keys, or a process-local ephemeral
// keyring (generated once) when none was configured.
func (s *state) sessionKeys() (*sessionKeys, error) {
	if k := s.sessions.Load(); k != nil {
		return k, nil
	}
	var err error
	ephemeralOnce.Do(func() {
		var kr *keyring.Keyring
		if kr, err = keyring.Generate(); err != nil {
			return
		}
		var k *sessionKeys
		if k, err = newSessionKeys(EphemeralIssuer, kr); err == nil {
			s.sessions.CompareAndSwap(nil, k)
		}
	})
	if k := s.sessions.Load(); k != nil {
		return k, nil
	}
	if err == nil {
		err = errors.New("no session keys")
	}
	return nil, err
}

var anyObject = types.NewObject(nil, types.NewDynamicProperty(types.S, types.A))

var issueCredentialsDecl = &rego.Function{
	Name: IssueCredentialsName,
	Description: "Mints temporary S3 credentials for a grant: {\"subject\": string, \"duration_seconds\": number, " +
		"optional \"action\", \"source\" {iss, sub, client_id}, \"revision\", and any other members (permissions, tags), " +
		"which the session token carries}. Returns {access_key_id, secret_access_key, session_token, expiration, session_id}. " +
		"Pure: nothing is stored; the STS plugin registers the sessions it issues.",
	Decl: types.NewFunction(
		types.Args(types.Named("grant", anyObject).Description("what the credential allows")),
		types.Named("credentials", anyObject).Description("access_key_id, secret_access_key, session_token, expiration (RFC 3339), session_id"),
	),
	Nondeterministic: true,
}

var verifySessionDecl = &rego.Function{
	Name: VerifySessionName,
	Description: "Verifies a session token issued by this STS for an access key id. Returns {\"valid\": true, " +
		"\"session\": {access_key_id, session_id, subject, issued_at, expiration}, \"claims\": {...}, \"grant\": {...}} or " +
		"{\"valid\": false, \"error\": {\"code\", \"message\"}} (codes as sts.verify_token, plus access_key_mismatch).",
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

func (s *state) issueCredentials(bctx rego.BuiltinContext, grantTerm *ast.Term) (*ast.Term, error) {
	obj, err := builtins.ObjectOperand(grantTerm.Value, 1)
	if err != nil {
		return nil, err
	}
	g, err := GrantFromObject(obj)
	if err != nil {
		return nil, err
	}
	keys, err := s.sessionKeys()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", IssueCredentialsName, err)
	}
	c, err := keys.minter.Mint(g, evalTime(bctx))
	if err != nil {
		return nil, err
	}
	return ast.ObjectTerm(
		ast.Item(ast.StringTerm("access_key_id"), ast.StringTerm(c.AccessKeyID)),
		ast.Item(ast.StringTerm("secret_access_key"), ast.StringTerm(c.SecretAccessKey)),
		ast.Item(ast.StringTerm("session_token"), ast.StringTerm(c.SessionToken)),
		ast.Item(ast.StringTerm("expiration"), ast.StringTerm(c.Expiration.Format(time.RFC3339))),
		ast.Item(ast.StringTerm("session_id"), ast.StringTerm(c.SessionID)),
	), nil
}

// GrantFromObject reads a grant object (as a decision returns it) into a
// credentials.Grant; the whole object becomes the token's grant claim.
func GrantFromObject(obj ast.Object) (credentials.Grant, error) {
	var g credentials.Grant
	str := func(o ast.Object, name string) (string, error) {
		t := o.Get(ast.StringTerm(name))
		if t == nil {
			return "", nil
		}
		s, ok := t.Value.(ast.String)
		if !ok {
			return "", fmt.Errorf("grant: %s must be a string", name)
		}
		return string(s), nil
	}
	var err error
	if g.Subject, err = str(obj, "subject"); err != nil {
		return g, err
	}
	if g.Subject == "" {
		return g, errors.New("grant: subject is required")
	}
	dt := obj.Get(ast.StringTerm("duration_seconds"))
	if dt == nil {
		return g, errors.New("grant: duration_seconds is required")
	}
	n, ok := dt.Value.(ast.Number)
	secs, okInt := n.Int64()
	if !ok || !okInt {
		return g, errors.New("grant: duration_seconds must be a whole number")
	}
	g.Duration = time.Duration(secs) * time.Second
	if g.Action, err = str(obj, "action"); err != nil {
		return g, err
	}
	if g.Revision, err = str(obj, "revision"); err != nil {
		return g, err
	}
	if src := obj.Get(ast.StringTerm("source")); src != nil {
		so, ok := src.Value.(ast.Object)
		if !ok {
			return g, errors.New("grant: source must be an object")
		}
		if g.Source.Issuer, err = str(so, "iss"); err != nil {
			return g, err
		}
		if g.Source.Subject, err = str(so, "sub"); err != nil {
			return g, err
		}
		if g.Source.ClientID, err = str(so, "client_id"); err != nil {
			return g, err
		}
	}
	native, err := ast.JSON(obj)
	if err != nil {
		return g, fmt.Errorf("grant: %w", err)
	}
	if g.Details, err = json.Marshal(native); err != nil {
		return g, fmt.Errorf("grant: %w", err)
	}
	return g, nil
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
	keys, err := s.sessionKeys()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", VerifySessionName, err)
	}
	sess, verr := keys.verifier.Verify(bctx.Context, string(akid), string(token), evalTime(bctx))
	if verr != nil {
		return failure(verr), nil
	}
	if keys.revoked != nil && keys.revoked(sess) {
		return failure(&jwtverify.Error{Code: CodeRevoked, Message: "the session has been revoked"}), nil
	}
	grant := sess.Claims.Get(keyGrant)
	if grant == nil {
		grant = ast.InternedEmptyObject
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
		ast.Item(keyGrant, grant),
	), nil
}
