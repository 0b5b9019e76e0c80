package stswire

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// A form body as aws-sdk-go-v2 sends it, with a 1 KB token.
func benchBody() string {
	tok := strings.Repeat("eyJhbGciOiJSUzI1NiJ9", 52)[:1024]
	return "Action=AssumeRoleWithWebIdentity&RoleArn=" + url.QueryEscape(testRoleArn) +
		"&RoleSessionName=1732823172000000000&Version=2011-06-15&WebIdentityToken=" + tok
}

type rewindBody struct{ strings.Reader }

func (*rewindBody) Close() error { return nil }

func BenchmarkParseRequest(b *testing.B) {
	body := benchBody()
	rb := &rewindBody{}
	r := &http.Request{
		Method: http.MethodPost, URL: &url.URL{Path: "/"},
		Header:        http.Header{"Content-Type": {formCT}},
		ContentLength: int64(len(body)), Body: rb,
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		rb.Reset(body)
		req, e := ParseRequest(r, Limits{})
		if e != nil || len(req.Token) != 1024 {
			b.Fatal(e)
		}
	}
}

func BenchmarkParseRequestQuery(b *testing.B) {
	r := &http.Request{Method: http.MethodPost, URL: &url.URL{Path: "/", RawQuery: benchBody()}, Header: http.Header{}, Body: http.NoBody}
	b.ReportAllocs()
	for b.Loop() {
		if _, e := ParseRequest(r, Limits{}); e != nil {
			b.Fatal(e)
		}
	}
}

// discardWriter is a ResponseWriter that keeps nothing but its header map.
type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (d *discardWriter) WriteHeader(int)             {}

func BenchmarkWriteResult(b *testing.B) {
	res := fullResult(AssumeRoleWithWebIdentity)
	res.Credentials.SessionToken = strings.Repeat("eyJhbGciOiJFZERTQSJ9", 40) // ~800 byte session JWT
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		if err := WriteResult(w, res, "17A2B3C4D5E6F708"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWriteError(b *testing.B) {
	e := InvalidIdentityToken("The token's signature does not verify")
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		WriteError(w, e, "17A2B3C4D5E6F708")
	}
}

var _ io.ReadCloser = (*rewindBody)(nil)

// AssumeRole as aws-sdk-go-v2 sends it with five session tags, through
// ParseRequestBody (the raw body already read, as for SigV4).
func BenchmarkParseAssumeRoleBody(b *testing.B) {
	body := []byte(ar + "&DurationSeconds=3600&ExternalId=" + testExternalID + tags(5) + transitive("k1", "k2") +
		"&PolicyArns.member.1.arn=" + url.QueryEscape(testRoleArn+"p"))
	r := &http.Request{Method: http.MethodPost, URL: &url.URL{Path: "/"}, Header: http.Header{"Content-Type": {formCT}}}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		req, e := ParseRequestBody(r, body, Limits{})
		if e != nil || len(req.Tags) != 5 {
			b.Fatal(e)
		}
	}
}

func BenchmarkWriteResultAssumeRole(b *testing.B) {
	res := assumeRoleResult()
	res.Action = AssumeRole
	res.Credentials.SessionToken = strings.Repeat("eyJhbGciOiJFZERTQSJ9", 40)
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		if err := WriteResult(w, res, "17A2B3C4D5E6F708"); err != nil {
			b.Fatal(err)
		}
	}
}
