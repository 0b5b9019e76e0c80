package sigv4

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// editAuth rewrites the Authorization header.
func editAuth(r *http.Request, f func(string) string) *http.Request {
	r.Header.Set("Authorization", f(r.Header.Get("Authorization")))
	return r
}

// editQuery rewrites the raw query string.
func editQuery(r *http.Request, f func(string) string) *http.Request {
	r.URL.RawQuery = f(r.URL.RawQuery)
	return r
}

func setQuery(r *http.Request, k, v string) *http.Request {
	q := r.URL.Query()
	q.Set(k, v)
	r.URL.RawQuery = q.Encode()
	return r
}

// Negative cases first: every malformed, tampered, stale or ambiguous
// request is refused with the code AWS answers, and no message repeats a
// secret, the session token or the signature.
func TestRejectHeaderForm(t *testing.T) {
	h := func(o signOpts) *http.Request { return headerSigned(t, o) }
	base := func() *http.Request { return h(signOpts{}) }
	withToken := func() *http.Request { return h(signOpts{token: testToken}) }
	repl := func(old, new string) func(string) string {
		return func(s string) string { return strings.Replace(s, old, new, 1) }
	}
	tests := []struct {
		name string
		r    *http.Request
		body string // "" = testBody
		code string
		msg  string // substring of the message
	}{
		// No signature at all.
		{name: "unsigned", r: httptest.NewRequest(http.MethodPost, "/", nil), code: CodeMissingAuthenticationToken},
		{name: "only X-Amz-Date", r: func() *http.Request {
			r := httptest.NewRequest(http.MethodPost, "/", nil)
			r.Header.Set("X-Amz-Date", "20261128T202612Z")
			return r
		}(), code: CodeMissingAuthenticationToken},

		// The Authorization header's shape.
		{name: "SigV4a", r: editAuth(base(), repl(Algorithm, "AWS4-ECDSA-P256-SHA256")), code: CodeIncompleteSignature, msg: "only AWS4-HMAC-SHA256"},
		{name: "SigV2", r: editAuth(base(), func(string) string { return "AWS " + testAKID + ":c2lnbmF0dXJl" }), code: CodeIncompleteSignature},
		{name: "lower-case algorithm", r: editAuth(base(), repl(Algorithm, "aws4-hmac-sha256")), code: CodeIncompleteSignature},
		{name: "two spaces after the algorithm", r: editAuth(base(), repl(Algorithm+" ", Algorithm+"  ")), code: CodeIncompleteSignature},
		{name: "empty Authorization", r: editAuth(base(), func(string) string { return "" }), code: CodeIncompleteSignature},
		{name: "Bearer", r: editAuth(base(), func(string) string { return "Bearer " + testToken }), code: CodeIncompleteSignature},
		{name: "no Signature", r: editAuth(base(), func(s string) string { return s[:strings.Index(s, ", Signature=")] }), code: CodeIncompleteSignature, msg: "Credential=..., SignedHeaders=..., Signature=..."},
		{name: "components reordered", r: editAuth(base(), func(s string) string {
			p := strings.Split(strings.TrimPrefix(s, Algorithm+" "), ", ")
			return Algorithm + " " + p[1] + ", " + p[0] + ", " + p[2]
		}), code: CodeIncompleteSignature},
		{name: "component repeated", r: editAuth(base(), func(s string) string { return s + ", Signature=" + strings.Repeat("0", 64) }), code: CodeIncompleteSignature},
		{name: "two spaces between components", r: editAuth(base(), repl(", SignedHeaders", ",  SignedHeaders")), code: CodeIncompleteSignature},
		{name: "space before a comma", r: editAuth(base(), repl(", SignedHeaders", " , SignedHeaders")), code: CodeIncompleteSignature},
		{name: "lower-case component name", r: editAuth(base(), repl("Credential=", "credential=")), code: CodeIncompleteSignature},
		{name: "two Authorization headers", r: func() *http.Request {
			r := base()
			r.Header.Add("Authorization", r.Header.Get("Authorization"))
			return r
		}(), code: CodeIncompleteSignature, msg: "more than one Authorization"},

		// Credential scope.
		{name: "scope of four parts", r: editAuth(base(), repl("/us-east-1/sts/", "/us-east-1/")), code: CodeIncompleteSignature, msg: "Credential must be"},
		{name: "scope of six parts", r: editAuth(base(), repl("/aws4_request", "/aws4_request/x")), code: CodeIncompleteSignature},
		{name: "empty access key id", r: editAuth(base(), repl("Credential="+testAKID, "Credential=")), code: CodeIncompleteSignature, msg: "access key id"},
		{name: "access key id with a space", r: editAuth(base(), repl("Credential="+testAKID, "Credential=AKIA X")), code: CodeIncompleteSignature},
		{name: "access key id too long", r: editAuth(base(), repl("Credential="+testAKID, "Credential="+strings.Repeat("A", 129))), code: CodeIncompleteSignature},
		{name: "scope date of 7 digits", r: editAuth(base(), repl("/20261128/", "/2026112/")), code: CodeIncompleteSignature, msg: "yyyymmdd"},
		{name: "scope date invalid", r: editAuth(base(), repl("/20261128/", "/20261332/")), code: CodeIncompleteSignature},
		{name: "region with a slash-free odd character", r: editAuth(base(), repl("/us-east-1/", "/us east/")), code: CodeIncompleteSignature, msg: "region"},
		{name: "region too long", r: editAuth(base(), repl("/us-east-1/", "/"+strings.Repeat("r", 65)+"/")), code: CodeIncompleteSignature},
		{name: "another service", r: h(signOpts{service: "s3"}), code: CodeSignatureDoesNotMatch, msg: "'sts'"},
		{name: "service case", r: editAuth(base(), repl("/sts/", "/STS/")), code: CodeSignatureDoesNotMatch},
		{name: "another terminator", r: editAuth(base(), repl("aws4_request", "aws5_request")), code: CodeSignatureDoesNotMatch, msg: "terminator"},
		{name: "scope date is not X-Amz-Date's", r: editAuth(base(), repl("/20261128/", "/20261127/")), code: CodeSignatureDoesNotMatch, msg: "Date in Credential"},

		// X-Amz-Date.
		{name: "no X-Amz-Date", r: func() *http.Request { r := base(); r.Header.Del("X-Amz-Date"); return r }(), code: CodeIncompleteSignature, msg: "X-Amz-Date"},
		{name: "X-Amz-Date RFC 3339", r: func() *http.Request { r := base(); r.Header.Set("X-Amz-Date", "2026-11-28T20:26:12Z"); return r }(), code: CodeIncompleteSignature, msg: "yyyymmddThhmmssZ"},
		{name: "X-Amz-Date without Z", r: func() *http.Request { r := base(); r.Header.Set("X-Amz-Date", "20261128T202612"); return r }(), code: CodeIncompleteSignature},
		{name: "X-Amz-Date hour 24", r: func() *http.Request { r := base(); r.Header.Set("X-Amz-Date", "20261128T242612Z"); return r }(), code: CodeIncompleteSignature},
		{name: "X-Amz-Date twice", r: func() *http.Request { r := base(); r.Header.Add("X-Amz-Date", "20261128T202612Z"); return r }(), code: CodeIncompleteSignature, msg: "more than one X-Amz-Date"},
		{name: "Date header instead of X-Amz-Date", r: func() *http.Request {
			r := base()
			r.Header.Set("Date", r.Header.Get("X-Amz-Date"))
			r.Header.Del("X-Amz-Date")
			return r
		}(), code: CodeIncompleteSignature},

		// Signed headers.
		{name: "host unsigned", r: editAuth(base(), repl("host;", "")), code: CodeIncompleteSignature, msg: "host header must be signed"},
		{name: "x-amz-date unsigned", r: editAuth(base(), repl(";x-amz-date", "")), code: CodeIncompleteSignature, msg: "X-Amz-Date must be"},
		{name: "signed headers unsorted", r: editAuth(base(), repl("content-type;host", "host;content-type")), code: CodeIncompleteSignature, msg: "sorted"},
		{name: "signed header repeated", r: editAuth(base(), repl("host;", "host;host;")), code: CodeIncompleteSignature},
		{name: "signed header upper case", r: editAuth(base(), repl("host;", "Host;")), code: CodeIncompleteSignature, msg: "lower-case"},
		{name: "signed headers empty", r: editAuth(base(), func(s string) string {
			i, j := strings.Index(s, "SignedHeaders=")+len("SignedHeaders="), strings.Index(s, ", Signature=")
			return s[:i] + s[j:]
		}), code: CodeIncompleteSignature},
		{name: "signed headers with an empty name", r: editAuth(base(), repl("host;", "host;;")), code: CodeIncompleteSignature},
		{name: "authorization signed", r: editAuth(base(), repl("content-length;", "authorization;content-length;")), code: CodeIncompleteSignature},
		{name: "too many signed headers", r: editAuth(base(), func(s string) string {
			var names []string
			for i := 0; i < MaxSignedHeaders; i++ {
				names = append(names, fmt.Sprintf("a%03d", i))
			}
			return strings.Replace(s, "content-length;", strings.Join(names, ";")+";content-length;", 1)
		}), code: CodeIncompleteSignature, msg: "too many"},
		{name: "signed header missing from the request", r: func() *http.Request { r := base(); r.Header.Del("Content-Type"); return r }(), code: CodeSignatureDoesNotMatch, msg: "content-type is not in the request"},
		{name: "signed content-length missing", r: func() *http.Request { r := base(); r.ContentLength = -1; return r }(), code: CodeSignatureDoesNotMatch, msg: "content-length"},
		{name: "signed user-agent", r: func() *http.Request {
			r := editAuth(base(), repl("host;x-amz-date", "host;user-agent;x-amz-date"))
			r.Header.Set("User-Agent", "aws-cli/2")
			return r
		}(), code: CodeSignatureDoesNotMatch, msg: "cannot be verified"},

		// Signature syntax.
		{name: "signature upper-case hex", r: editAuth(base(), func(s string) string {
			i := strings.Index(s, "Signature=") + len("Signature=")
			return s[:i] + strings.ToUpper(s[i:])
		}), code: CodeIncompleteSignature, msg: "64 lower-case"},
		{name: "signature 63 digits", r: editAuth(base(), func(s string) string { return s[:len(s)-1] }), code: CodeIncompleteSignature},
		{name: "signature 65 digits", r: editAuth(base(), func(s string) string { return s + "0" }), code: CodeIncompleteSignature},
		{name: "signature base64", r: editAuth(base(), func(s string) string { return s[:len(s)-64] + strings.Repeat("A", 43) + "=" }), code: CodeIncompleteSignature},

		// Both forms, or auth parameters where they do not belong.
		{name: "both forms", r: setQuery(base(), QuerySignature, strings.Repeat("0", 64)), code: CodeIncompleteSignature, msg: "both"},
		{name: "token in the query with the header form", r: setQuery(base(), QuerySecurityToken, testToken), code: CodeIncompleteSignature, msg: "both"},
		{name: "X-Amz-Date in the query with the header form", r: setQuery(base(), QueryDate, "20261128T202612Z"), code: CodeIncompleteSignature},

		// The session token.
		{name: "token added after signing", r: func() *http.Request { r := base(); r.Header.Set("X-Amz-Security-Token", testToken); return r }(), code: CodeIncompleteSignature, msg: "X-Amz-Security-Token must be a signed header"},
		{name: "token twice", r: func() *http.Request { r := withToken(); r.Header.Add("X-Amz-Security-Token", testToken); return r }(), code: CodeIncompleteSignature, msg: "more than one X-Amz-Security-Token"},
		{name: "token empty", r: func() *http.Request { r := withToken(); r.Header.Set("X-Amz-Security-Token", ""); return r }(), code: CodeIncompleteSignature, msg: "empty"},

		// The payload hash header.
		{name: "UNSIGNED-PAYLOAD in the header form", r: h(signOpts{payload: "UNSIGNED-PAYLOAD", before: func(r *http.Request) { r.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD") }}), code: CodeIncompleteSignature, msg: "body must be signed"},
		{name: "streaming payload", r: h(signOpts{payload: "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", before: func(r *http.Request) { r.Header.Set("X-Amz-Content-Sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD") }}), code: CodeIncompleteSignature},
		{name: "content hash of another body", r: h(signOpts{before: func(r *http.Request) { r.Header.Set("X-Amz-Content-Sha256", strings.Repeat("ab", 32)) }}), code: CodeSignatureDoesNotMatch, msg: "does not match X-Amz-Content-Sha256"},
		{name: "content hash upper case", r: func() *http.Request {
			r := base()
			sum := strings.ToUpper(r.Header.Get("X-Amz-Content-Sha256"))
			r.Header.Set("X-Amz-Content-Sha256", sum+strings.Repeat("A", 64-len(sum)))
			return r
		}(), code: CodeIncompleteSignature},
		{name: "content hash twice", r: func() *http.Request {
			r := base()
			r.Header.Add("X-Amz-Content-Sha256", strings.Repeat("ab", 32))
			r.Header.Add("X-Amz-Content-Sha256", strings.Repeat("ab", 32))
			return r
		}(), code: CodeIncompleteSignature, msg: "more than one"},

		// A query string that would not be signed as sent.
		{name: "query with a raw ';'", r: editQuery(base(), func(string) string { return "a=1;b=2" }), code: CodeIncompleteSignature, msg: "';'"},
		{name: "query with a bad escape", r: editQuery(base(), func(string) string { return "a=%zz" }), code: CodeIncompleteSignature, msg: "form encoding"},
		{name: "query name with a bad escape", r: editQuery(base(), func(string) string { return "%g0=1" }), code: CodeIncompleteSignature},

		// Tampering after signing.
		{name: "a byte of the body", r: base(), body: strings.Replace(testBody, "s1", "s2", 1), code: CodeSignatureDoesNotMatch},
		{name: "body appended", r: base(), body: testBody + "&DurationSeconds=43200", code: CodeSignatureDoesNotMatch},
		{name: "empty body", r: base(), body: "-", code: CodeSignatureDoesNotMatch},
		{name: "a signed header's value", r: func() *http.Request { r := base(); r.Header.Set("Content-Type", formCT+"; charset=utf-8"); return r }(), code: CodeSignatureDoesNotMatch},
		{name: "an SDK header's value", r: func() *http.Request {
			r := h(signOpts{before: func(r *http.Request) { r.Header.Set("Amz-Sdk-Request", "attempt=1; max=3") }})
			r.Header.Set("Amz-Sdk-Request", "attempt=2; max=3")
			return r
		}(), code: CodeSignatureDoesNotMatch},
		{name: "a signed header given twice", r: func() *http.Request { r := base(); r.Header.Add("Content-Type", formCT); return r }(), code: CodeSignatureDoesNotMatch},
		{name: "host", r: func() *http.Request { r := base(); r.Host = "evil.example.com:8443"; return r }(), code: CodeSignatureDoesNotMatch},
		{name: "host without its port", r: func() *http.Request { r := base(); r.Host = "sts.example.com"; return r }(), code: CodeSignatureDoesNotMatch},
		{name: "method", r: func() *http.Request { r := base(); r.Method = http.MethodPut; return r }(), code: CodeSignatureDoesNotMatch},
		{name: "path", r: func() *http.Request { r := base(); r.URL.Path = "/x"; return r }(), code: CodeSignatureDoesNotMatch},
		{name: "query parameter added", r: setQuery(base(), "DurationSeconds", "43200"), code: CodeSignatureDoesNotMatch},
		{name: "date one second later", r: func() *http.Request { r := base(); r.Header.Set("X-Amz-Date", "20261128T202613Z"); return r }(), code: CodeSignatureDoesNotMatch},
		{name: "region", r: editAuth(base(), repl("/us-east-1/", "/eu-west-1/")), code: CodeSignatureDoesNotMatch},
		{name: "region emptied", r: editAuth(base(), repl("/us-east-1/", "//")), code: CodeSignatureDoesNotMatch},
		{name: "session token", r: func() *http.Request { r := withToken(); r.Header.Set("X-Amz-Security-Token", testToken+"x"); return r }(), code: CodeSignatureDoesNotMatch},
		{name: "signature", r: editAuth(base(), func(s string) string {
			c := byte('0')
			if s[len(s)-1] == '0' {
				c = '1'
			}
			return s[:len(s)-1] + string(c)
		}), code: CodeSignatureDoesNotMatch, msg: "does not match"},
		{name: "signed by another secret", r: h(signOpts{secret: "other/secret/K7MDENG/bPxRfiCYEXAMPLEKEY"}), code: CodeSignatureDoesNotMatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := tt.body
			switch body {
			case "":
				body = testBody
			case "-":
				body = ""
			}
			err := verify(tt.r, body)
			if err == nil {
				t.Fatal("accepted")
			}
			if got := codeOf(err); got != tt.code {
				t.Errorf("got %v, want %s", err, tt.code)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("message %q lacks %q", err, tt.msg)
			}
			checkSafe(t, err, tt.r)
		})
	}
}

func TestRejectClock(t *testing.T) {
	for _, tc := range []struct {
		name string
		at   time.Duration // signing time relative to now
	}{
		{"six minutes old", -6 * time.Minute},
		{"five minutes and a second old", -5*time.Minute - time.Second},
		{"six minutes ahead", 6 * time.Minute},
		{"five minutes and a second ahead", 5*time.Minute + time.Second},
		{"a day old", -24 * time.Hour},
	} {
		r := headerSigned(t, signOpts{at: testNow.Add(tc.at)})
		err := verify(r, testBody)
		if codeOf(err) != CodeRequestExpired {
			t.Errorf("%s: got %v", tc.name, err)
		}
		a, _ := Parse(r, "sts")
		if codeOf(a.CheckTime(testNow)) != CodeRequestExpired {
			t.Errorf("%s: CheckTime accepted", tc.name)
		}
	}
	// The bounds themselves are accepted.
	for _, at := range []time.Duration{-MaxClockSkew, MaxClockSkew} {
		if err := verify(headerSigned(t, signOpts{at: testNow.Add(at)}), testBody); err != nil {
			t.Errorf("skew %v refused: %v", at, err)
		}
	}
}

// The key id is not in the string to sign: a changed key id is caught by
// the caller's lookup, which yields another secret (SignatureDoesNotMatch)
// or none (InvalidClientTokenId).
func TestRejectKeyID(t *testing.T) {
	secrets := map[string]string{testAKID: testSecret, "AKIAOTHERKEY00000000": "another/secret/K7MDENG/bPxRfiCYEXAMPLE"}
	check := func(r *http.Request) error {
		a, err := Parse(r, "sts")
		if err != nil {
			return err
		}
		secret, ok := secrets[a.AccessKeyID]
		if !ok {
			return InvalidClientTokenID()
		}
		return a.Verify(r, []byte(testBody), secret, testNow)
	}
	for _, tc := range []struct{ akid, code string }{{"AKIAOTHERKEY00000000", CodeSignatureDoesNotMatch}, {"AKIAUNKNOWN000000000", CodeInvalidClientTokenID}} {
		r := editAuth(headerSigned(t, signOpts{}), func(s string) string { return strings.Replace(s, testAKID, tc.akid, 1) })
		if err := check(r); codeOf(err) != tc.code {
			t.Errorf("%s: got %v, want %s", tc.akid, err, tc.code)
		}
	}
	if err := check(headerSigned(t, signOpts{})); err != nil {
		t.Fatal(err)
	}
}

func TestRejectSecret(t *testing.T) {
	r := headerSigned(t, signOpts{})
	if err := verifyWith(r, testBody, "", testNow); codeOf(err) != CodeInvalidClientTokenID {
		t.Errorf("empty secret: %v", err)
	}
	a, err := Parse(r, "sts")
	if err != nil {
		t.Fatal(err)
	}
	var nilAuth *Auth
	if codeOf(nilAuth.Verify(r, []byte(testBody), testSecret, testNow)) == "" || codeOf(a.Verify(nil, nil, testSecret, testNow)) == "" {
		t.Error("nil accepted")
	}
	if _, err := Parse(nil, "sts"); codeOf(err) != CodeMissingAuthenticationToken {
		t.Errorf("nil request: %v", err)
	}
}

func TestRejectQueryForm(t *testing.T) {
	p := func(o signOpts) *http.Request { return presigned(t, o) }
	base := func() *http.Request { return p(signOpts{}) }
	del := func(r *http.Request, k string) *http.Request {
		q := r.URL.Query()
		q.Del(k)
		r.URL.RawQuery = q.Encode()
		return r
	}
	tests := []struct {
		name string
		r    *http.Request
		body string
		now  time.Time
		code string
		msg  string
	}{
		{name: "no X-Amz-Signature", r: del(base(), QuerySignature), code: CodeIncompleteSignature, msg: "presigned request must have"},
		{name: "no X-Amz-Algorithm", r: del(base(), QueryAlgorithm), code: CodeIncompleteSignature},
		{name: "no X-Amz-Credential", r: del(base(), QueryCredential), code: CodeIncompleteSignature},
		{name: "no X-Amz-Date", r: del(base(), QueryDate), code: CodeIncompleteSignature},
		{name: "no X-Amz-SignedHeaders", r: del(base(), QuerySignedHeaders), code: CodeIncompleteSignature},
		{name: "only a token", r: setQuery(httptest.NewRequest(http.MethodGet, "/?Action=GetCallerIdentity", nil), QuerySecurityToken, testToken), code: CodeIncompleteSignature},
		{name: "another algorithm", r: setQuery(base(), QueryAlgorithm, "AWS4-HMAC-SHA512"), code: CodeIncompleteSignature, msg: "X-Amz-Algorithm"},
		{name: "empty algorithm", r: setQuery(base(), QueryAlgorithm, ""), code: CodeIncompleteSignature},
		{name: "signature repeated", r: editQuery(base(), func(s string) string { return s + "&X-Amz-Signature=" + strings.Repeat("0", 64) }), code: CodeIncompleteSignature, msg: "X-Amz-Signature is given more than once"},
		{name: "credential repeated", r: editQuery(base(), func(s string) string { return s + "&X-Amz-Credential=x" }), code: CodeIncompleteSignature, msg: "more than once"},
		{name: "token repeated", r: editQuery(p(signOpts{token: testToken}), func(s string) string { return s + "&X-Amz-Security-Token=x" }), code: CodeIncompleteSignature},
		{name: "expires repeated", r: editQuery(p(signOpts{expires: 60}), func(s string) string { return s + "&X-Amz-Expires=60" }), code: CodeIncompleteSignature},
		{name: "percent-encoded name repeats", r: editQuery(base(), func(s string) string { return s + "&X-Amz-Signatur%65=" + strings.Repeat("0", 64) }), code: CodeIncompleteSignature},
		{name: "expires 0", r: p(signOpts{before: func(r *http.Request) { setQuery(r, QueryExpires, "0") }}), code: CodeIncompleteSignature, msg: "X-Amz-Expires"},
		{name: "expires over a week", r: p(signOpts{expires: MaxExpires + 1}), code: CodeIncompleteSignature},
		{name: "expires leading zero", r: p(signOpts{before: func(r *http.Request) { setQuery(r, QueryExpires, "060") }}), code: CodeIncompleteSignature},
		{name: "expires negative", r: p(signOpts{before: func(r *http.Request) { setQuery(r, QueryExpires, "-60") }}), code: CodeIncompleteSignature},
		{name: "expires empty", r: p(signOpts{before: func(r *http.Request) { setQuery(r, QueryExpires, "") }}), code: CodeIncompleteSignature},
		{name: "expired", r: p(signOpts{expires: 60}), now: testNow.Add(61 * time.Second), code: CodeRequestExpired, msg: "expired"},
		{name: "expired after a week", r: p(signOpts{expires: MaxExpires}), now: testNow.Add(MaxExpires*time.Second + time.Second), code: CodeRequestExpired},
		{name: "not yet valid", r: p(signOpts{expires: 3600}), now: testNow.Add(-6 * time.Minute), code: CodeRequestExpired, msg: "not yet current"},
		{name: "old without expires", r: base(), now: testNow.Add(6 * time.Minute), code: CodeRequestExpired},
		{name: "Authorization header too", r: func() *http.Request {
			r := base()
			r.Header.Set("Authorization", headerSigned(t, signOpts{}).Header.Get("Authorization"))
			return r
		}(), code: CodeIncompleteSignature, msg: "both"},
		{name: "token header", r: func() *http.Request {
			r := p(signOpts{token: testToken})
			r.Header.Set("X-Amz-Security-Token", testToken)
			return r
		}(), code: CodeIncompleteSignature, msg: "in the query string"},
		{name: "token empty", r: editQuery(p(signOpts{}), func(s string) string { return s + "&X-Amz-Security-Token=" }), code: CodeIncompleteSignature},
		{name: "host unsigned", r: editQuery(base(), func(s string) string {
			return strings.Replace(s, "X-Amz-SignedHeaders=host", "X-Amz-SignedHeaders=x-amz-date", 1)
		}), code: CodeIncompleteSignature, msg: "host"},
		{name: "content hash neither hex nor UNSIGNED-PAYLOAD", r: func() *http.Request {
			r := base()
			r.Header.Set("X-Amz-Content-Sha256", "STREAMING-UNSIGNED-PAYLOAD-TRAILER")
			return r
		}(), code: CodeIncompleteSignature},
		{name: "scope for another service", r: p(signOpts{service: "iam"}), code: CodeSignatureDoesNotMatch},

		// Tampering.
		{name: "a parameter's value", r: editQuery(base(), func(s string) string { return strings.Replace(s, "GetCallerIdentity", "AssumeRole", 1) }), code: CodeSignatureDoesNotMatch},
		{name: "a parameter added", r: setQuery(base(), "RoleArn", "arn:aws:iam::123456789012:role/admin"), code: CodeSignatureDoesNotMatch},
		{name: "a body added", r: base(), body: "Action=AssumeRole", code: CodeSignatureDoesNotMatch},
		{name: "UNSIGNED-PAYLOAD with a body", r: p(signOpts{payload: "UNSIGNED-PAYLOAD"}), body: "Action=AssumeRole", code: CodeSignatureDoesNotMatch},
		{name: "UNSIGNED-PAYLOAD declared with a body", r: func() *http.Request {
			r := p(signOpts{payload: "UNSIGNED-PAYLOAD"})
			r.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
			return r
		}(), body: "Action=AssumeRole", code: CodeSignatureDoesNotMatch, msg: "UNSIGNED-PAYLOAD"},
		{name: "host", r: func() *http.Request { r := base(); r.Host = "evil.example.com:8443"; return r }(), code: CodeSignatureDoesNotMatch},
		{name: "method", r: func() *http.Request { r := base(); r.Method = http.MethodPost; return r }(), code: CodeSignatureDoesNotMatch},
		{name: "token", r: setQuery(p(signOpts{token: testToken}), QuerySecurityToken, testToken+"x"), code: CodeSignatureDoesNotMatch},
		{name: "token removed", r: del(p(signOpts{token: testToken}), QuerySecurityToken), code: CodeSignatureDoesNotMatch},
		{name: "expires lengthened", r: setQuery(p(signOpts{expires: 60}), QueryExpires, "3600"), code: CodeSignatureDoesNotMatch},
		{name: "expires removed", r: del(p(signOpts{expires: 60}), QueryExpires), code: CodeSignatureDoesNotMatch},
		{name: "date", r: setQuery(base(), QueryDate, "20261128T202613Z"), code: CodeSignatureDoesNotMatch},
		{name: "region", r: setQuery(base(), QueryCredential, testAKID+"/20261128/eu-west-1/sts/aws4_request"), code: CodeSignatureDoesNotMatch},
		{name: "key id", r: setQuery(base(), QueryCredential, "AKIAIOSFODNN7EXAMPLF/20261128/us-east-1/sts/aws4_request"), code: CodeSignatureDoesNotMatch},
		{name: "signature", r: setQuery(base(), QuerySignature, strings.Repeat("0", 64)), code: CodeSignatureDoesNotMatch},
		{name: "signed header added to the list", r: setQuery(base(), QuerySignedHeaders, "host;x-amz-date"), code: CodeSignatureDoesNotMatch, msg: "x-amz-date is not in the request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := tt.now
			if now.IsZero() {
				now = testNow
			}
			err := verifyWith(tt.r, tt.body, testSecret, now)
			if err == nil {
				t.Fatal("accepted")
			}
			if got := codeOf(err); got != tt.code {
				t.Errorf("got %v, want %s", err, tt.code)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("message %q lacks %q", err, tt.msg)
			}
			checkSafe(t, err, tt.r)
		})
	}
}

func TestErrorStatus(t *testing.T) {
	for code, status := range map[string]int{
		CodeMissingAuthenticationToken: 403, CodeIncompleteSignature: 400, CodeInvalidClientTokenID: 403,
		CodeSignatureDoesNotMatch: 403, CodeRequestExpired: 400,
	} {
		if got := (&Error{Code: code}).HTTPStatus(); got != status {
			t.Errorf("%s: %d", code, got)
		}
	}
	if (*Error)(nil).Error() != "<nil>" || InvalidClientTokenID().Error() != "InvalidClientTokenId: The security token included in the request is invalid." {
		t.Error("Error()")
	}
}
