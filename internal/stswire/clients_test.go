package stswire

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/opa-sts/opa-sts/internal/sigv4"
)

// capturedRequest is a request as botocore or the JS SDK v3 sent it,
// recorded by running them (testdata/clients; the secret is AWS's
// documentation example, sdkSecret).
type capturedRequest struct {
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers"`
	Body    string            `json:"body"`
}

func (c capturedRequest) server(t *testing.T) *http.Request {
	r := httptest.NewRequest(c.Method, c.URL, strings.NewReader(c.Body))
	for k, v := range c.Headers {
		if strings.EqualFold(k, "host") {
			r.Host = v
			continue
		}
		r.Header.Set(textproto.CanonicalMIMEHeaderKey(k), v)
	}
	return r
}

// Requests signed by botocore 1.29.27 (the AWS CLI's library, with its CRT
// signer) and by the JS SDK v3 (@aws-sdk/client-sts 3.1177.0), AssumeRole
// with tags in the header form and GetCallerIdentity (botocore's presigned
// URLs for POST and GET, the JS SDK's header form), with long-term and
// session credentials: each verifies with
// internal/sigv4 over the raw body at its own X-Amz-Date, and parses to
// what the client meant.
func TestRecordedClients(t *testing.T) {
	wantAR := &Request{Action: AssumeRole, Version: APIVersion, RoleArn: "arn:aws:iam::123456789012:role/demo", RoleSessionName: "s1",
		DurationSeconds: 900, ExternalID: "ext-id-0123", Tags: []Tag{{"Project", "Unicorn"}, {"Cost Center", ""}}, TransitiveTagKeys: []string{"Project"}}
	wantGCI := &Request{Action: GetCallerIdentity, Version: APIVersion}
	files, _ := filepath.Glob("testdata/clients/*.json")
	if len(files) != 2 {
		t.Fatalf("fixtures: %v", files)
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		n := 0
		for name, v := range m {
			var r *http.Request
			var c capturedRequest
			var url string
			switch {
			case json.Unmarshal(v, &c) == nil && c.Method != "":
				r = c.server(t)
			case json.Unmarshal(v, &url) == nil && strings.HasPrefix(url, "http"):
				// botocore signs a presigned URL for the operation's
				// method (POST for STS) unless told otherwise.
				method := http.MethodGet
				if strings.Contains(name, "_POST_") {
					method = http.MethodPost
				}
				r = httptest.NewRequest(method, url, nil)
			default:
				continue // the version
			}
			n++
			t.Run(filepath.Base(f)+"/"+name, func(t *testing.T) {
				body, e := ReadBody(r, Limits{})
				if e != nil {
					t.Fatal(e)
				}
				req, e := ParseRequestBody(r, body, Limits{})
				if e != nil {
					t.Fatal(e)
				}
				if want := map[Action]*Request{AssumeRole: wantAR, GetCallerIdentity: wantGCI}[req.Action]; !reflect.DeepEqual(req, want) {
					t.Errorf("parsed\n got  %#v\n want %#v", req, want)
				}
				a, err := sigv4.Parse(r, "sts")
				if err != nil {
					t.Fatal(err)
				}
				if err := a.Verify(r, body, sdkSecret, a.Date.Add(time.Minute)); err != nil {
					t.Fatalf("%v (%s)", err, a)
				}
				if strings.HasSuffix(name, "session") != (a.SessionToken != "") {
					t.Errorf("session token: %s", a)
				}
				// Tampered, it does not.
				if len(body) > 0 {
					body[len(body)-1] ^= 1
				} else {
					r.Host += "0"
				}
				if err := a.Verify(r, body, sdkSecret, a.Date); err == nil {
					t.Error("tampered request verified")
				}
				t.Logf("%s signed %v", name, a.SignedHeaders)
			})
		}
		if n != 4 && n != 6 {
			t.Errorf("%s: %d requests", f, n)
		}
	}
}
