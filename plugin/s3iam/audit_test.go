package s3iam

import "testing"

func TestWhatIsDecisionLogged(t *testing.T) {
	allowed := &record{decisions: [][]string{{"allow", "allow"}}}
	mixed := &record{decisions: [][]string{{"allow"}, {"no_match"}}}
	denied := &record{decisions: [][]string{{"deny"}}}
	refused := &record{}
	var byDefault, all, none Config
	all.DecisionLogs.Allowed = true
	none.DecisionLogs.Disabled = true
	for _, c := range []struct {
		name string
		cfg  *Config
		r    *record
		aerr *apiError
		want bool
	}{
		{"allowed, default", &byDefault, allowed, nil, false},
		{"one no_match, default", &byDefault, mixed, nil, true},
		{"deny, default", &byDefault, denied, nil, true},
		{"refused session, default", &byDefault, refused, invalidToken("expired"), true},
		{"allowed, allowed: true", &all, allowed, nil, true},
		{"deny, disabled", &none, denied, nil, false},
		{"not about credentials", &all, nil, errBadRequest, false},
	} {
		if got := c.cfg.logs(c.r, c.aerr); got != c.want {
			t.Errorf("%s: logged %v, want %v", c.name, got, c.want)
		}
	}
}

func TestLoggedConditionDropsTheRefererQuery(t *testing.T) {
	in := map[string][]string{"aws:SourceIp": {"10.0.0.1"},
		"aws:Referer": {"https://app.example/view?X-Amz-Security-Token=secret&X-Amz-Signature=abc#frag"}}
	out := loggedCondition(in)
	if got := out["aws:Referer"][0]; got != "https://app.example/view" {
		t.Fatalf("referer logged as %q", got)
	}
	if in["aws:Referer"][0] == "https://app.example/view" || out["aws:SourceIp"][0] != "10.0.0.1" {
		t.Fatal("the request's own condition map changed, or another key was lost")
	}
}
