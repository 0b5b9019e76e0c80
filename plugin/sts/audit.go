package sts

import (
	"context"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/plugins/logs"
	"github.com/open-policy-agent/opa/v1/server"

	"github.com/opa-sts/opa-sts/internal/audit"
)

// finish records one STS request in the metrics and the decision log.
// Neither ever sees the identity token, the secret access key or the
// session token: the input's tokens are replaced by fingerprints, and only
// the access key id, session id and expiration of issued credentials are
// logged.
func (p *Plugin) finish(ctx context.Context, out *outcome, requestID string, start time.Time) {
	elapsed := time.Since(start)
	if out.err != nil {
		p.metrics.denied.WithLabelValues(out.action, out.err.Code).Inc()
		p.metrics.duration.WithLabelValues(out.action, "error").Observe(elapsed.Seconds())
	} else if out.issued != nil {
		p.metrics.issued.WithLabelValues(out.action).Inc()
		p.metrics.duration.WithLabelValues(out.action, "issued").Observe(elapsed.Seconds())
	}
	if out.input == nil || p.config().DecisionLogs.Disabled {
		return // the request never reached the policy
	}
	lp := logs.Lookup(p.manager)
	if lp == nil {
		return
	}
	token := ""
	if t := out.input.Get(ast.StringTerm("token")); t != nil {
		if s, ok := t.Value.(ast.String); ok {
			token = string(s)
		}
	}
	input := maskedInput(out.input)
	result := map[string]any{"decision": scrub(out.decision, token)}
	if out.issued != nil {
		result["issued"] = map[string]any{
			"access_key_id": out.issued.AccessKeyID,
			"session_id":    out.issued.SessionID,
			"expiration":    out.issued.Expiration.Format(time.RFC3339),
		}
	}
	if out.err != nil {
		result["error"] = map[string]any{"code": out.err.Code, "status": out.err.Status}
	}
	var results any = result
	bundles := make(map[string]server.BundleInfo, len(out.bundles))
	for name, rev := range out.bundles {
		bundles[name] = server.BundleInfo{Revision: rev}
	}
	info := &server.Info{
		DecisionID: requestID,
		Path:       p.config().decisionQuery,
		Timestamp:  start.UTC(),
		Input:      &input,
		Results:    &results,
		Bundles:    bundles,
		Error:      out.evalErr,
		Custom: map[string]any{"sts": map[string]any{
			"action": out.action, "request_id": requestID, "revision": out.revision,
			// Kept here too: the default mask policy erases /input/token.
			"token_fingerprint": audit.Fingerprint(token),
		}},
	}
	if err := lp.Log(context.WithoutCancel(ctx), info); err != nil {
		p.logger().Error("decision log for request %s: %v", requestID, err)
	}
}

// scrub returns v with every string equal to secret replaced by its
// fingerprint, so a policy that copies the token into its decision does not
// leak it into the decision log.
func scrub(v any, secret string) any {
	if secret == "" {
		return v
	}
	switch x := v.(type) {
	case string:
		if x == secret {
			return audit.Fingerprint(x)
		}
		return x
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = scrub(e, secret)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = scrub(e, secret)
		}
		return out
	}
	return v
}
