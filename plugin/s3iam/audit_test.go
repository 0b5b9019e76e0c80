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
