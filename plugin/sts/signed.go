package sts

import (
	"context"
	"net/http"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/opa-sts/opa-sts/internal/credentials"
	"github.com/opa-sts/opa-sts/internal/sessions"
	"github.com/opa-sts/opa-sts/internal/sigv4"
	"github.com/opa-sts/opa-sts/internal/stswire"
)

// maxPresignedLifetime bounds X-Amz-Expires of a presigned STS request.
const maxPresignedLifetime = time.Hour

// signedCaller authenticates a SigV4-signed call (AssumeRole,
// GetCallerIdentity), scoped to region when it is not empty, and returns
// the caller for the decision:
//
//	{"type": "principal", "access_key_id": "AKIA..."}
//	{"type": "session", "access_key_id": "ASIA...",
//	 "session": {"subject", "session_id", "expiration", "grant"}}
//
// The secret that must have signed is a principal's derived secret (the
// policy says whether the principal exists), or a session's once its
// session token verifies (signature, expiry, revocation). The signature
// is checked over the body exactly as received.
func signedCaller(ctx context.Context, r *http.Request, body []byte, a *sessions.Authority, region string, now time.Time) (*ast.Term, *stswire.Error) {
	auth, err := sigv4.Parse(r, "sts")
	if err != nil {
		return nil, stswire.SignatureError(err)
	}
	if err := auth.CheckRegion(region); err != nil {
		return nil, stswire.SignatureError(err)
	}
	if err := auth.CheckTime(now); err != nil {
		return nil, stswire.SignatureError(err)
	}
	// A presigned URL mints a credential for whoever holds it, as often as
	// it is sent: it may not live longer than an hour here (AWS: 7 days).
	if auth.Form == sigv4.QueryForm && auth.Expires > maxPresignedLifetime {
		return nil, stswire.InvalidParameterValue("X-Amz-Expires must be at most 3600 seconds: a presigned STS request mints credentials for whoever holds it")
	}
	var secret string
	var caller *ast.Term
	switch {
	case auth.SessionToken != "":
		s, verr := a.Verify(ctx, auth.AccessKeyID, auth.SessionToken, now)
		if verr != nil {
			if verr.Code == "expired" {
				return nil, stswire.ExpiredSessionCredentials()
			}
			return nil, stswire.SignatureError(sigv4.InvalidClientTokenID())
		}
		secret = a.Secret(s)
		grant := ast.NullTerm()
		if g := s.Claims.Get(ast.StringTerm("grant")); g != nil {
			grant = g
		}
		caller = ast.ObjectTerm(
			item("type", ast.StringTerm("session")),
			item("access_key_id", ast.StringTerm(s.AccessKeyID)),
			item("session", ast.ObjectTerm(
				item("subject", ast.StringTerm(s.Subject)),
				item("session_id", ast.StringTerm(s.SessionID)),
				item("expiration", ast.IntNumberTerm(int(s.Expiration.Unix()))),
				item("grant", grant),
			)),
		)
	case credentials.IsPrincipalAccessKeyID(auth.AccessKeyID):
		if secret, err = a.PrincipalSecret(auth.AccessKeyID); err != nil {
			return nil, stswire.SignatureError(sigv4.InvalidClientTokenID())
		}
		caller = ast.ObjectTerm(item("type", ast.StringTerm("principal")), item("access_key_id", ast.StringTerm(auth.AccessKeyID)))
	default:
		return nil, stswire.SignatureError(sigv4.InvalidClientTokenID())
	}
	if err := auth.Verify(r, body, secret, now); err != nil {
		return nil, stswire.SignatureError(err)
	}
	return caller, nil
}

// signedInput is the policy input of a signed call (see
// policies/sts/assume_role.rego): action, caller, and AssumeRole's
// role_arn, role_session_name, duration_seconds, policy,
// policy_document, policy_arns, tags {key: value}, transitive_tag_keys,
// external_id, source_identity; with source_ip, request_id and tls as
// for the token actions.
func signedInput(req *stswire.Request, caller *ast.Term, policyDoc ast.Value, r *http.Request, requestID, clientIP string) ast.Object {
	tags := ast.NewObject()
	for _, t := range req.Tags {
		tags.Insert(ast.StringTerm(t.Key), ast.StringTerm(t.Value))
	}
	terms := func(ss []string) *ast.Term {
		out := make([]*ast.Term, len(ss))
		for i, s := range ss {
			out[i] = ast.StringTerm(s)
		}
		return ast.ArrayTerm(out...)
	}
	items := [][2]*ast.Term{
		item("action", ast.StringTerm(string(req.Action))),
		item("caller", caller),
		item("role_arn", ast.StringTerm(req.RoleArn)),
		item("role_session_name", ast.StringTerm(req.RoleSessionName)),
		item("duration_seconds", ast.IntNumberTerm(req.DurationSeconds)),
		item("policy", ast.StringTerm(req.Policy)),
		item("policy_arns", terms(req.PolicyArns)),
		item("tags", ast.NewTerm(tags)),
		item("transitive_tag_keys", terms(req.TransitiveTagKeys)),
		item("source_ip", ast.StringTerm(clientIP)),
		item("request_id", ast.StringTerm(requestID)),
	}
	if req.ExternalID != "" {
		items = append(items, item("external_id", ast.StringTerm(req.ExternalID)))
	}
	if req.SourceIdentity != "" {
		items = append(items, item("source_identity", ast.StringTerm(req.SourceIdentity)))
	}
	if policyDoc != nil {
		items = append(items, item("policy_document", ast.NewTerm(policyDoc)))
	}
	if r.TLS != nil {
		items = append(items, item("tls", tlsInfo(r.TLS)))
	}
	return ast.NewObject(items...)
}

// callerIdentity is the GetCallerIdentity answer of a decision.
func callerIdentity(d map[string]any) (stswire.CallerIdentity, bool) {
	ci, _ := d["caller_identity"].(map[string]any)
	arn, _ := ci["arn"].(string)
	id, _ := ci["user_id"].(string)
	account, _ := ci["account"].(string)
	return stswire.CallerIdentity{Arn: arn, UserID: id, Account: account}, arn != "" && id != ""
}

// assumedRole is the AssumedRoleUser and SourceIdentity of an AssumeRole
// grant (policies/sts/assume_role.rego).
func assumedRole(d map[string]any) (arn, id, sourceIdentity string) {
	g, _ := d["grant"].(map[string]any)
	ar, _ := g["assumed_role"].(map[string]any)
	arn, _ = ar["arn"].(string)
	id, _ = ar["id"].(string)
	sourceIdentity, _ = g["source_identity"].(string)
	return arn, id, sourceIdentity
}

// packedPolicySize is AWS's PackedPolicySize: how much of the session
// token the grant (statements, session policy, tags, variables) takes, in
// percent of the limit.
func packedPolicySize(issued credentials.Issued) *int {
	n := len(issued.SessionToken) * 100 / credentials.MaxSessionTokenBytes
	n = min(max(n, 0), 100)
	return &n
}
