package sts

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	evalmetrics "github.com/open-policy-agent/opa/v1/metrics"

	"github.com/opa-sts/opa-sts/internal/audit"
	"github.com/opa-sts/opa-sts/internal/credentials"
	"github.com/opa-sts/opa-sts/internal/grant"
	"github.com/opa-sts/opa-sts/internal/iam"
	"github.com/opa-sts/opa-sts/internal/jsonast"
	"github.com/opa-sts/opa-sts/internal/sessions"
	"github.com/opa-sts/opa-sts/internal/sessionstore"
	"github.com/opa-sts/opa-sts/internal/stswire"
)

// The decision contract and how a denial becomes the client's error are
// in internal/grant (FromDecision).

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
	metrics  evalmetrics.Metrics
	// minted are the credentials the decision itself minted: their
	// secrets may be in the decision, and never reach the log.
	minted []sessions.Minted
}

// secrets are what the request's log entries must never show: the
// identity tokens, an AssumeRole's ExternalId, and the secrets of what
// the decision minted.
func (o *outcome) secrets() []string {
	var s []string
	if o.input != nil {
		s = append(s, inputString(o.input, "token"), inputString(o.input, "access_token"), inputString(o.input, "external_id"))
	}
	for _, m := range o.minted {
		s = append(s, m.Issued.SecretAccessKey, m.Issued.SessionToken)
	}
	return s
}

func (p *Plugin) serveSTS(w http.ResponseWriter, r *http.Request, requestID string) {
	start := time.Now()
	cfg := p.config()
	out := outcome{action: "unknown"}
	defer func() {
		p.finish(r.Context(), &out, requestID, start)
	}()

	// The body is read under its own short deadline and before a decision
	// slot is taken: a client that trickles its body holds a connection
	// (capped by max_connections), never a slot.
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(time.Duration(cfg.Limits.BodyReadTimeoutSeconds) * time.Second))
	limits := stswire.Limits{
		MaxBodyBytes:   cfg.Limits.MaxBodyBytes,
		MaxTokenBytes:  cfg.Limits.MaxTokenBytes,
		MaxPolicyBytes: cfg.Limits.MaxPolicyBytes,
	}
	// The body as received: a signed call's signature covers it.
	body, werr := stswire.ReadBody(r, limits)
	var req *stswire.Request
	if werr == nil {
		req, werr = stswire.ParseRequestBody(r, body, limits)
	}
	if werr != nil {
		out.err = werr
		stswire.WriteError(w, werr, requestID)
		return
	}
	out.action = string(req.Action)
	sv := p.current()
	release, ok := sv.takeSlot()
	if !ok {
		out.err = errBusy
		stswire.WriteError(w, out.err, requestID)
		return
	}
	defer release()
	policyDoc, werr := checkSessionPolicy(req.Policy)
	if werr != nil {
		out.err = werr
		stswire.WriteError(w, werr, requestID)
		return
	}

	authority := sv.authority()
	if authority == nil {
		out.err = errNoAuthority
		stswire.WriteError(w, out.err, requestID)
		return
	}
	if err := authority.Ready(); err != nil {
		out.err = stswire.ServiceUnavailable("the STS is not ready: the revocation list has not been loaded yet")
		stswire.WriteError(w, out.err, requestID)
		return
	}

	ctx, cancel := context.WithTimeout(r.Context(), cfg.Limits.requestTimeout())
	defer cancel()

	clientIP := sourceIP(r, cfg.trustedProxies)
	if req.Action.Signed() {
		caller, werr := signedCaller(ctx, r, body, authority, cfg.Region, time.Now())
		if werr != nil {
			out.err = werr
			stswire.WriteError(w, werr, requestID)
			return
		}
		out.input = signedInput(req, caller, policyDoc, r, requestID, clientIP)
	} else {
		out.input = buildInput(req, policyDoc, r, requestID, clientIP)
	}
	if !cfg.DecisionLogs.Disabled && audit.Enabled(p.manager) {
		out.metrics = evalmetrics.New() // for the decision log only
	}
	// The decision may mint with the production keys (sts.issue_credentials);
	// whatever it mints is registered below like the plugin's own.
	evalCtx, scope := sessions.WithMinting(ctx, authority)
	dec, prepared, err := sv.eval.Eval(evalCtx, out.input, out.metrics)
	if prepared != nil {
		out.revision, out.bundles = prepared.Revision, prepared.Bundles
	}
	out.decision = dec
	out.minted = scope.Minted()
	if err != nil {
		err = audit.ScrubError(err, out.secrets()...)
		out.evalErr = err
		p.logger().Error("STS decision failed (request %s): %v", requestID, err)
		out.err = stswire.InternalError()
		if ctx.Err() != nil {
			out.err = stswire.ServiceUnavailable("the request timed out")
		}
		stswire.WriteError(w, out.err, requestID)
		return
	}
	if req.Action == stswire.GetCallerIdentity {
		p.answerCallerIdentity(w, &out, dec, requestID)
		return
	}
	g, werr := grant.FromDecision(dec)
	if werr != nil {
		if werr.Detail != "" {
			p.logger().Error("STS request %s: %s", requestID, werr.Detail)
		}
		out.err = werr
		stswire.WriteError(w, werr, requestID)
		return
	}
	g.Action = string(req.Action)
	g.Revision = out.revision

	now := time.Now()
	issued, err := authority.Mint(g, now)
	if err != nil {
		out.err = stswire.InternalError()
		switch {
		case errors.Is(err, credentials.ErrGrantTooLarge) && req.Policy != "":
			// The client's session policy is what tipped it over.
			out.err = stswire.PackedPolicyTooLarge("the session policy and the granted permissions together are too large for a session token")
		case errors.Is(err, credentials.ErrGrantTooLarge):
			p.logger().Error("STS request %s: the grant for %q does not fit in a session token (%v; %d bytes of grant: roles' statements, variables, tags): "+
				"shorten the roles' statements, or carry fewer variables", requestID, g.Subject, err, len(g.Details))
		default:
			p.logger().Error("STS could not mint credentials (request %s): %v", requestID, err)
		}
		stswire.WriteError(w, out.err, requestID)
		return
	}
	// Credentials that are not registered are not handed out: revocation
	// and audit rely on the registry. That includes any the decision
	// minted itself.
	toRegister := append(out.minted, sessions.Minted{Grant: g, Issued: issued})
	for _, m := range toRegister {
		if err := authority.Register(ctx, registryRecord(m, string(req.Action), out.revision, clientIP)); err != nil {
			p.logger().Error("STS could not register session %s (request %s): %v", m.Issued.SessionID, requestID, err)
			out.err = stswire.ServiceUnavailable("the session store is unavailable")
			stswire.WriteError(w, out.err, requestID)
			return
		}
	}
	out.issued = &issued

	subject := g.Source.Subject
	if subject == "" {
		subject = g.Subject
	}
	res := stswire.Result{
		Action: req.Action,
		Credentials: stswire.Credentials{
			AccessKeyID: issued.AccessKeyID, SecretAccessKey: issued.SecretAccessKey,
			SessionToken: issued.SessionToken, Expiration: issued.Expiration,
		},
		Subject:  subject,
		Audience: sourceAudience(dec),
		Provider: g.Source.Issuer,
	}
	// The decision names the AssumedRoleUser (GetCallerIdentity repeats
	// it); for a custom decision that does not, it is computed here.
	if arn, id, sourceIdentity := assumedRole(dec); arn != "" && id != "" {
		res.AssumedRoleArn, res.AssumedRoleID, res.SourceIdentity = arn, id, sourceIdentity
	} else {
		res.AssumedRoleArn = assumedRoleArn(req, g.Subject)
		res.AssumedRoleID = issued.AccessKeyID + ":" + sessionName(req, g.Subject)
	}
	if req.Action == stswire.AssumeRole {
		res.Subject, res.Audience, res.Provider = "", "", ""
		res.PackedPolicySize = packedPolicySize(issued)
	}
	if err := stswire.WriteResult(w, res, requestID); err != nil {
		p.logger().Debug("STS response not written (request %s): %v", requestID, err)
	}
}

// answerCallerIdentity answers GetCallerIdentity from the decision.
func (p *Plugin) answerCallerIdentity(w http.ResponseWriter, out *outcome, dec map[string]any, requestID string) {
	if allow, _ := dec["allow"].(bool); !allow {
		_, out.err = grant.FromDecision(dec)
		stswire.WriteError(w, out.err, requestID)
		return
	}
	id, ok := callerIdentity(dec)
	if !ok {
		p.logger().Error("STS request %s: the GetCallerIdentity decision has no caller_identity {arn, user_id}", requestID)
		out.err = stswire.InternalError()
		stswire.WriteError(w, out.err, requestID)
		return
	}
	if err := stswire.WriteCallerIdentity(w, id, requestID); err != nil {
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
	// Strict JSON: a duplicate member name (two Statements, the last
	// silently winning), invalid UTF-8 or nesting beyond 64 levels is
	// refused, never guessed at.
	v, err := jsonast.Decode([]byte(policy))
	if err != nil {
		return nil, stswire.MalformedPolicyDocument("the session policy is not valid JSON: " + err.Error())
	}
	doc, err := ast.JSON(v)
	if err != nil {
		return nil, stswire.MalformedPolicyDocument("the session policy cannot be represented")
	}
	if _, err := iam.CompileDocument(doc); err != nil {
		return nil, stswire.MalformedPolicyDocument("the session policy is not a valid policy: " + err.Error())
	}
	return v, nil
}

// registryRecord is the session store's record of a minted credential.
func registryRecord(m sessions.Minted, action, revision, clientIP string) sessionstore.Session {
	return sessionstore.Session{
		ID: m.Issued.SessionID, AccessKeyID: m.Issued.AccessKeyID, Subject: m.Grant.Subject,
		Issuer: m.Grant.Source.Issuer, IdPSubject: m.Grant.Source.Subject, ClientID: m.Grant.Source.ClientID,
		Action: action, IssuedAt: m.Issued.IssuedAt, ExpiresAt: m.Issued.Expiration,
		Revision: revision, SourceIP: clientIP,
	}
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
