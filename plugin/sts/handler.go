package sts

import (
	"context"
	"encoding/json"
	"errors"

	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/opa-sts/opa-sts/internal/audit"
	"github.com/opa-sts/opa-sts/internal/credentials"
	"github.com/opa-sts/opa-sts/internal/iam"
	"github.com/opa-sts/opa-sts/internal/sessionstore"
	"github.com/opa-sts/opa-sts/internal/stswire"
)

// The decision contract. data.sts.decision (or the configured path) must be
// an object:
//
//	allow        boolean: issue credentials or not
//	reason       human-safe text, returned to the client on denial
//	token_error  {code, message} from sts.verify_token when the token failed;
//	             mapped to the STS error of the spec (expired ->
//	             ExpiredTokenException, idp_unreachable -> IDPCommunicationError,
//	             anything else -> InvalidIdentityToken)
//	error_code   optional STS code for a denial: AccessDenied (default),
//	             IDPRejectedClaim, InvalidParameterValue,
//	             MalformedPolicyDocument, PackedPolicyTooLarge
//	grant        when allowed: {subject, duration_seconds, source: {iss, sub,
//	             client_id, aud}, ...permissions, tags...}; the whole object
//	             travels in the session token
//	rule         the rule that decided (logged)

// outcome is what one STS request produced, for logs and metrics.
type outcome struct {
	action   string
	err      *stswire.Error
	issued   *credentials.Issued
	decision map[string]any
	revision string
	bundles  map[string]string
	input    ast.Object
	evalErr  error
}

func (p *Plugin) serveSTS(w http.ResponseWriter, r *http.Request, requestID string) {
	start := time.Now()
	cfg := p.config()
	out := outcome{action: "unknown"}
	defer func() {
		p.finish(r.Context(), &out, requestID, start)
	}()

	req, werr := stswire.ParseRequest(r, stswire.Limits{
		MaxBodyBytes:   cfg.Limits.MaxBodyBytes,
		MaxTokenBytes:  cfg.Limits.MaxTokenBytes,
		MaxPolicyBytes: cfg.Limits.MaxPolicyBytes,
	})
	if werr != nil {
		out.err = werr
		stswire.WriteError(w, werr, requestID)
		return
	}
	out.action = string(req.Action)
	policyDoc, werr := checkSessionPolicy(req.Policy)
	if werr != nil {
		out.err = werr
		stswire.WriteError(w, werr, requestID)
		return
	}

	ctx, cancel := context.WithTimeout(r.Context(), cfg.Limits.requestTimeout())
	defer cancel()

	clientIP := sourceIP(r, p.config().trustedProxies)
	out.input = buildInput(req, policyDoc, r, requestID, clientIP)
	dec, prepared, err := p.eval.Eval(ctx, out.input)
	if prepared != nil {
		out.revision, out.bundles = prepared.Revision, prepared.Bundles
	}
	out.decision = dec
	if err != nil {
		err = scrubError(err, req.Token)
		out.evalErr = err
		p.logger().Error("STS decision failed (request %s): %v", requestID, err)
		out.err = stswire.InternalError()
		if ctx.Err() != nil {
			out.err = stswire.ServiceUnavailable("the request timed out")
		}
		stswire.WriteError(w, out.err, requestID)
		return
	}
	grant, werr := grantFromDecision(dec)
	if werr != nil {
		if werr.Detail != "" {
			p.logger().Error("STS request %s: %s", requestID, werr.Detail)
		}
		out.err = werr
		stswire.WriteError(w, werr, requestID)
		return
	}
	grant.Action = string(req.Action)
	grant.Revision = out.revision

	now := time.Now()
	issued, err := p.minter().Mint(grant, now)
	if err != nil {
		out.err = stswire.InternalError()
		switch {
		case errors.Is(err, credentials.ErrGrantTooLarge) && req.Policy != "":
			// The client's session policy is what tipped it over.
			out.err = stswire.PackedPolicyTooLarge("the session policy and the granted permissions together are too large for a session token")
		case errors.Is(err, credentials.ErrGrantTooLarge):
			p.logger().Error("STS request %s: the roles granted to %q carry too many statements for a session token (%v): split or shorten them", requestID, grant.Subject, err)
		default:
			p.logger().Error("STS could not mint credentials (request %s): %v", requestID, err)
		}
		stswire.WriteError(w, out.err, requestID)
		return
	}
	sess := sessionstore.Session{
		ID: issued.SessionID, AccessKeyID: issued.AccessKeyID, Subject: grant.Subject,
		Issuer: grant.Source.Issuer, IdPSubject: grant.Source.Subject, ClientID: grant.Source.ClientID,
		Action: string(req.Action), IssuedAt: issued.IssuedAt, ExpiresAt: issued.Expiration,
		Revision: out.revision, SourceIP: clientIP,
	}
	// Credentials that are not registered are not handed out: revocation
	// and audit rely on the registry.
	if err := p.store.Register(ctx, sess); err != nil {
		p.logger().Error("STS could not register session %s (request %s): %v", issued.SessionID, requestID, err)
		out.err = stswire.ServiceUnavailable("the session store is unavailable")
		stswire.WriteError(w, out.err, requestID)
		return
	}
	out.issued = &issued

	subject := grant.Source.Subject
	if subject == "" {
		subject = grant.Subject
	}
	res := stswire.Result{
		Action: req.Action,
		Credentials: stswire.Credentials{
			AccessKeyID: issued.AccessKeyID, SecretAccessKey: issued.SecretAccessKey,
			SessionToken: issued.SessionToken, Expiration: issued.Expiration,
		},
		Subject:        subject,
		Audience:       sourceAudience(dec),
		Provider:       grant.Source.Issuer,
		AssumedRoleArn: assumedRoleArn(req, grant.Subject),
		AssumedRoleID:  issued.AccessKeyID + ":" + sessionName(req, grant.Subject),
	}
	if err := stswire.WriteResult(w, res, requestID); err != nil {
		p.logger().Debug("STS response not written (request %s): %v", requestID, err)
	}
}

// checkSessionPolicy parses the session policy (the Policy parameter) and
// rejects one that is not a valid IAM policy: it could never be applied,
// and a policy that cannot narrow must not be ignored. It returns the
// parsed document for the policy input (nil when there is none).
func checkSessionPolicy(policy string) (ast.Value, *stswire.Error) {
	if policy == "" {
		return nil, nil
	}
	dec := json.NewDecoder(strings.NewReader(policy))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, stswire.MalformedPolicyDocument("the session policy is not JSON")
	}
	if _, err := iam.CompileDocument(doc); err != nil {
		return nil, stswire.MalformedPolicyDocument("the session policy is not a valid policy: " + err.Error())
	}
	v, err := ast.InterfaceToValue(doc)
	if err != nil {
		return nil, stswire.MalformedPolicyDocument("the session policy cannot be represented")
	}
	return v, nil
}

// grantFromDecision checks the decision and turns an allowing one into a
// grant, or a denial into the STS error the client gets.
func grantFromDecision(d map[string]any) (credentials.Grant, *stswire.Error) {
	allow, _ := d["allow"].(bool)
	reason, _ := d["reason"].(string)
	if !allow {
		if te, ok := d["token_error"].(map[string]any); ok {
			code, _ := te["code"].(string)
			msg, _ := te["message"].(string)
			if msg == "" {
				msg = "the identity token is not valid"
			}
			switch code {
			case "expired":
				return credentials.Grant{}, stswire.ExpiredToken(msg)
			case "idp_unreachable":
				return credentials.Grant{}, stswire.IDPCommunicationError(msg)
			case "invalid_provider":
				// Our configuration is wrong, not the client's token.
				return credentials.Grant{}, stswire.InternalError().WithDetail("identity provider misconfigured: %s", msg)
			default:
				return credentials.Grant{}, stswire.InvalidIdentityToken(msg)
			}
		}
		if reason == "" {
			reason = "access denied by policy"
		}
		code, _ := d["error_code"].(string)
		switch code {
		case "", "AccessDenied":
			return credentials.Grant{}, stswire.AccessDenied(reason)
		case "IDPRejectedClaim":
			return credentials.Grant{}, stswire.IDPRejectedClaim(reason)
		case "InvalidParameterValue":
			return credentials.Grant{}, stswire.InvalidParameterValue(reason)
		case "MalformedPolicyDocument":
			return credentials.Grant{}, stswire.MalformedPolicyDocument(reason)
		case "PackedPolicyTooLarge":
			return credentials.Grant{}, stswire.PackedPolicyTooLarge(reason)
		default:
			return credentials.Grant{}, stswire.AccessDenied(reason)
		}
	}
	g, ok := d["grant"].(map[string]any)
	if !ok {
		return credentials.Grant{}, stswire.InternalError().WithDetail("the decision allows but has no grant object")
	}
	var out credentials.Grant
	out.Subject, _ = g["subject"].(string)
	if out.Subject == "" {
		return credentials.Grant{}, stswire.InternalError().WithDetail("the decision's grant has no subject (a non-empty string)")
	}
	secs, ok := wholeNumber(g["duration_seconds"])
	if !ok || secs <= 0 {
		return credentials.Grant{}, stswire.InternalError().WithDetail("the decision's grant has no duration_seconds (a positive whole number)")
	}
	out.Duration = time.Duration(secs) * time.Second
	if out.Duration < credentials.MinDuration || out.Duration > credentials.MaxDuration {
		return credentials.Grant{}, stswire.InvalidParameterValue(fmt.Sprintf("the granted duration of %d seconds is out of range", secs))
	}
	if src, ok := g["source"].(map[string]any); ok {
		out.Source.Issuer, _ = src["iss"].(string)
		out.Source.Subject, _ = src["sub"].(string)
		out.Source.ClientID, _ = src["client_id"].(string)
	}
	details, err := json.Marshal(g)
	if err != nil {
		return credentials.Grant{}, stswire.InternalError().WithDetail("the decision's grant cannot be encoded: %v", err)
	}
	out.Details = details
	return out, nil
}

// scrubError replaces the token in an error message (an error raised by a
// user's built-in call might quote its argument).
func scrubError(err error, token string) error {
	if err == nil || token == "" || !strings.Contains(err.Error(), token) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), token, audit.Fingerprint(token)))
}

func wholeNumber(v any) (int64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	i, err := n.Int64()
	return i, err == nil
}

func sourceAudience(d map[string]any) string {
	g, _ := d["grant"].(map[string]any)
	src, _ := g["source"].(map[string]any)
	switch aud := src["aud"].(type) {
	case string:
		return aud
	case []any:
		if len(aud) > 0 {
			s, _ := aud[0].(string)
			return s
		}
	}
	return ""
}

func sessionName(req *stswire.Request, subject string) string {
	if req.RoleSessionName != "" {
		return req.RoleSessionName
	}
	return subject
}

// assumedRoleArn follows AWS: arn:aws:sts::<account>:assumed-role/<role>/<session>.
func assumedRoleArn(req *stswire.Request, subject string) string {
	account, role := "", "opa-sts"
	if parts := strings.SplitN(req.RoleArn, ":", 6); len(parts) == 6 && strings.HasPrefix(parts[5], "role/") {
		account = parts[4]
		role = parts[5][strings.LastIndexByte(parts[5], '/')+1:]
	}
	return fmt.Sprintf("arn:aws:sts::%s:assumed-role/%s/%s", account, role, sessionName(req, subject))
}
