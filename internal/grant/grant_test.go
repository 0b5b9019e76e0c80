package grant

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func decisionDoc(s string) map[string]any {
	var d map[string]any
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	_ = dec.Decode(&d)
	return d
}

func TestDecisionMapping(t *testing.T) {
	for name, tc := range map[string]struct {
		decision string
		code     string
		status   int
	}{
		"expired":          {`{"allow": false, "token_error": {"code": "expired", "message": "m"}}`, "ExpiredTokenException", 400},
		"idp down":         {`{"allow": false, "token_error": {"code": "idp_unreachable"}}`, "IDPCommunicationError", 400},
		"bad signature":    {`{"allow": false, "token_error": {"code": "bad_signature"}}`, "InvalidIdentityToken", 400},
		"our config":       {`{"allow": false, "token_error": {"code": "invalid_provider"}}`, "InternalError", 500},
		"denied":           {`{"allow": false, "reason": "no"}`, "AccessDenied", 403},
		"rejected claim":   {`{"allow": false, "error_code": "IDPRejectedClaim"}`, "IDPRejectedClaim", 403},
		"session policy":   {`{"allow": false, "error_code": "MalformedPolicyDocument"}`, "MalformedPolicyDocument", 400},
		"unknown code":     {`{"allow": false, "error_code": "Whatever"}`, "AccessDenied", 403},
		"no allow at all":  {`{}`, "AccessDenied", 403},
		"no grant":         {`{"allow": true}`, "InternalError", 500},
		"no subject":       {`{"allow": true, "grant": {"duration_seconds": 3600}}`, "InternalError", 500},
		"string duration":  {`{"allow": true, "grant": {"subject": "a", "duration_seconds": "3600"}}`, "InternalError", 500},
		"duration too low": {`{"allow": true, "grant": {"subject": "a", "duration_seconds": 10}}`, "InvalidParameterValue", 400},
	} {
		_, err := FromDecision(decisionDoc(tc.decision))
		if err == nil || err.Code != tc.code || err.Status != tc.status {
			t.Errorf("%s: want %s/%d, got %v", name, tc.code, tc.status, err)
		}
	}
	g, err := FromDecision(decisionDoc(`{"allow": true, "grant": {"subject": "alice", "duration_seconds": 3600,
		"source": {"iss": "https://idp", "sub": "u1", "client_id": "app"}, "roles": ["r"]}}`))
	if err != nil || g.Subject != "alice" || g.Duration != time.Hour || g.Source.ClientID != "app" || !strings.Contains(string(g.Details), `"roles":["r"]`) {
		t.Fatalf("grant: %+v %v", g, err)
	}
}

// A decision the STS cannot turn into credentials is an InternalError for
// the client, with the reason only in the detail for the operator's log.
func TestGrantFromDecisionFaultsCarryADetailForTheLog(t *testing.T) {
	for name, c := range map[string]struct {
		decision map[string]any
		detail   string
	}{
		"allow without grant":    {map[string]any{"allow": true}, "no grant object"},
		"grant without subject":  {map[string]any{"allow": true, "grant": map[string]any{"duration_seconds": 900}}, "subject"},
		"grant without duration": {map[string]any{"allow": true, "grant": map[string]any{"subject": "s"}}, "duration_seconds"},
		"misconfigured provider": {map[string]any{"allow": false, "token_error": map[string]any{
			"code": "invalid_provider", "message": `the provider of issuer "https://kc" is misconfigured: jwks: empty`}}, "https://kc"},
	} {
		t.Run(name, func(t *testing.T) {
			_, werr := FromDecision(c.decision)
			if werr == nil || werr.Code != "InternalError" || werr.Status != 500 {
				t.Fatalf("got %v", werr)
			}
			if !strings.Contains(werr.Detail, c.detail) || strings.Contains(werr.Message, c.detail) {
				t.Fatalf("detail %q, client message %q", werr.Detail, werr.Message)
			}
		})
	}
}

// The built-in (ast values through ast.JSON) and the plugin (OPA's
// results) parse the same object by the same rules.
func TestParseIsStrict(t *testing.T) {
	ok := map[string]any{"subject": "alice", "duration_seconds": json.Number("900")}
	if g, err := Parse(ok); err != nil || g.Subject != "alice" || g.Duration != 15*time.Minute {
		t.Fatalf("%+v %v", g, err)
	}
	for name, g := range map[string]map[string]any{
		"subject not a string":   {"subject": 1, "duration_seconds": json.Number("900")},
		"empty subject":          {"subject": "", "duration_seconds": json.Number("900")},
		"fractional duration":    {"subject": "a", "duration_seconds": json.Number("900.5")},
		"duration too long":      {"subject": "a", "duration_seconds": json.Number("99999999")},
		"source not an object":   {"subject": "a", "duration_seconds": json.Number("900"), "source": "x"},
		"source.iss not string":  {"subject": "a", "duration_seconds": json.Number("900"), "source": map[string]any{"iss": 1}},
		"action not a string":    {"subject": "a", "duration_seconds": json.Number("900"), "action": true},
		"revision not a string":  {"subject": "a", "duration_seconds": json.Number("900"), "revision": []any{}},
		"float64 fractional dur": {"subject": "a", "duration_seconds": 900.5},
	} {
		if _, err := Parse(g); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
