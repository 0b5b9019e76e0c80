package audit

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestScrubAndRedact(t *testing.T) {
	const tok = "eyJhbGciOiJSUzI1NiJ9.payload.signature"
	got := Scrub(map[string]any{"a": []any{tok, "x"}, "b": tok, "c": 1}, tok)
	b, _ := json.Marshal(got)
	if strings.Contains(string(b), tok) || !strings.Contains(string(b), "redacted:sha256:") {
		t.Fatalf("scrub: %s", b)
	}
	if Fingerprint("") != "" || Fingerprint(tok) == Fingerprint(tok+"x") {
		t.Fatal("redacted")
	}
	if err := ScrubError(errTest(tok+" failed"), tok); strings.Contains(err.Error(), tok) {
		t.Fatal("scrubError")
	}
}

type errTest string

func (e errTest) Error() string { return string(e) }

func TestScrubFindsSecretsInsideStringsKeysAndNestedValues(t *testing.T) {
	const tok = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJhIn0.c2ln"
	v := map[string]any{"header": "Bearer " + tok, tok: 1, "list": []string{"x", tok}, "cond": map[string][]string{"h": {tok}}}
	b, _ := json.Marshal(Scrub(v, tok, ""))
	if strings.Contains(string(b), tok) || strings.Count(string(b), Fingerprint(tok)) != 4 {
		t.Fatalf("%s", b)
	}
	if got := Scrub("plain", ""); got != "plain" {
		t.Fatal(got)
	}
}

func TestLoggedErrorEncodesItsMessage(t *testing.T) {
	b, err := json.Marshal(loggedError(errTest("evaluate data.sts.decision: boom")))
	if err != nil || !strings.Contains(string(b), `"message":"evaluate data.sts.decision: boom"`) {
		t.Fatalf("%s %v", b, err)
	}
}
