package assumerole_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"

	"github.com/opa-sts/opa-sts/test/e2e/awscli"
)

const (
	tableAccessArn = "arn:aws:iam::000000000000:role/table-access"
	principalArn   = "arn:aws:iam::000000000000:user/polaris"
)

// stsAnswer is what the STS answered to a hand-made request: the status,
// and from the XML the error code or the fields of a result.
type stsAnswer struct {
	Status int
	Body   string
	Code   string `xml:"Error>Code"`
	// GetCallerIdentity
	Arn    string `xml:"GetCallerIdentityResult>Arn"`
	UserID string `xml:"GetCallerIdentityResult>UserId"`
	// AssumeRole
	AssumedArn  string `xml:"AssumeRoleResult>AssumedRoleUser>Arn"`
	AccessKeyID string `xml:"AssumeRoleResult>Credentials>AccessKeyId"`
}

func (a stsAnswer) String() string { return http.StatusText(a.Status) + " " + a.Body }

func send(t *testing.T, req *http.Request) stsAnswer {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	must(t, err)
	a := stsAnswer{Status: resp.StatusCode, Body: string(b)}
	if err := xml.Unmarshal(b, &a); err != nil {
		t.Fatalf("answer %d is not XML: %v\n%s", resp.StatusCode, err, b)
	}
	return a
}

// presigned turns a presigned request into the HTTP request a holder of
// the URL sends: the method and signed headers as the SDK returned them.
func presigned(t *testing.T, p *v4.PresignedHTTPRequest, rawURL string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(p.Method, rawURL, nil)
	must(t, err)
	for k, vs := range p.SignedHeader {
		if strings.EqualFold(k, "Host") {
			req.Host = vs[0]
			continue
		}
		req.Header[k] = vs
	}
	return req
}

// presigner is aws-sdk-go-v2's own presigner with an X-Amz-Expires added to
// the query before signing (the STS presign client has no option for it)
// and the signing time moved by shift.
type presigner struct {
	expires string
	shift   time.Duration
}

func (p presigner) PresignHTTP(ctx context.Context, c aws.Credentials, r *http.Request, payloadHash, service, region string, at time.Time,
	optFns ...func(*v4.SignerOptions)) (string, http.Header, error) {
	if p.expires != "" {
		q := r.URL.Query()
		q.Set("X-Amz-Expires", p.expires)
		r.URL.RawQuery = q.Encode()
	}
	return v4.NewSigner().PresignHTTP(ctx, c, r, payloadHash, service, region, at.Add(p.shift), optFns...)
}

func withPresigner(p presigner) func(*sts.PresignOptions) {
	return func(o *sts.PresignOptions) { o.Presigner = p }
}

// assumeRoleForm is the form body of the catalog's AssumeRole, as a client
// writes it.
func assumeRoleForm(session string) []byte {
	return []byte(url.Values{
		"Action": {"AssumeRole"}, "Version": {"2011-06-15"},
		"RoleArn": {tableAccessArn}, "RoleSessionName": {session}, "ExternalId": {externalID},
		"Tags.member.1.Key": {"table"}, "Tags.member.1.Value": {"orders"},
	}.Encode())
}

// signedPost is a form POST to the STS signed by aws-sdk-go-v2's signer at
// the given time.
func (e *env) signedPost(t *testing.T, c aws.Credentials, body []byte, at time.Time) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.stsURL+"/", bytes.NewReader(body))
	must(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	sum := sha256.Sum256(body)
	must(t, v4.NewSigner().SignHTTP(context.Background(), c, req, hex.EncodeToString(sum[:]), "sts", "us-east-1", at))
	return req
}

// webSession is an etl session from AssumeRoleWithWebIdentity.
func (e *env) webSession(t *testing.T, name string) (credentials.StaticCredentialsProvider, *ststypes.Credentials) {
	t.Helper()
	out, err := e.stsClient(aws.AnonymousCredentials{}).AssumeRoleWithWebIdentity(context.Background(), &sts.AssumeRoleWithWebIdentityInput{
		RoleArn: aws.String("arn:aws:iam::000000000000:role/etl"), RoleSessionName: aws.String(name),
		WebIdentityToken: aws.String(e.hydra.Token(t, hydraClient, hydraSecret, []string{"sts"}, nil)),
	})
	must(t, err)
	c := out.Credentials
	return credentials.NewStaticCredentialsProvider(aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken)), c
}

// tokenClaims reads the claims of a session token (a JWS) without
// verifying it: the test needs its session id (jti) and subject.
func tokenClaims(t *testing.T, token string) (jti, sub string) {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("the session token is not a compact JWS (%d parts)", len(parts))
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	must(t, err)
	var c struct{ Jti, Sub string }
	must(t, json.Unmarshal(raw, &c))
	if c.Jti == "" || c.Sub == "" {
		t.Fatalf("the session token has no jti or sub: %s", raw)
	}
	return c.Jti, c.Sub
}

// revoke posts a revocation to OPA's API with the admin token.
func (e *env) revoke(t *testing.T, kind, value string) {
	t.Helper()
	raw, _ := json.Marshal(map[string]string{"kind": kind, "value": value, "reason": "e2e: " + kind + " revoked"})
	req, _ := http.NewRequest(http.MethodPost, e.opa.URL+"/v1/sts/revocations", bytes.NewReader(raw))
	req.Header.Set("Authorization", "Bearer "+e.adminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("revoke %s: %d %s", kind, resp.StatusCode, b)
	}
}

// TestMore: AssumeRole and GetCallerIdentity with the AWS SDK for
// JavaScript, presigned (query-string) requests and their lifetime cap,
// sessions that may no longer sign (revoked, stale signatures), and the AWS
// CLI asking who a principal is.
func TestMore(t *testing.T) {
	e := startEnv(t)
	ctx := context.Background()
	principal, err := e.principal.Retrieve(ctx)
	must(t, err)

	// The AWS SDK for JavaScript v3: refusals (a wrong secret, a wrong
	// ExternalId, a forged session), then the catalog's AssumeRole with a
	// table tag, GetCallerIdentity of the principal and of the vended
	// session, and S3 reads inside and outside the tagged table.
	t.Run("the AWS SDK for JavaScript", func(t *testing.T) {
		dir, err := filepath.Abs("../../clients/aws-sdk-js")
		must(t, err)
		if _, err := os.Stat(filepath.Join(dir, "node_modules", "@aws-sdk", "client-sts")); err != nil {
			t.Fatalf("the AWS SDK for JavaScript is not installed (%v): run bash scripts/build-tools.sh aws-sdk-js", err)
		}
		cctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		cmd := exec.CommandContext(cctx, "node", "assume-role.mjs")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "STS_URL="+e.stsURL, "S3_URL="+e.s3URL, "AK="+e.principalID, "SK="+e.principalSecret, "EXT="+externalID,
			"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_EC2_METADATA_DISABLED=true")
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("node assume-role.mjs: %v\n%s\n%s", err, out, stderr.String())
		}
		type step struct {
			OK     bool            `json:"ok"`
			Value  json.RawMessage `json:"value"`
			Error  string          `json:"error"`
			Status int             `json:"status"`
		}
		var got map[string]step
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("output %q: %v", out, err)
		}
		refused := func(name, errName string, status int) {
			t.Helper()
			if s, ok := got[name]; !ok || s.OK || s.Error != errName || s.Status != status {
				t.Errorf("%s: %+v, want %s (%d)", name, s, errName, status)
			}
		}
		value := func(name string, v any) {
			t.Helper()
			s, ok := got[name]
			if !ok || !s.OK {
				t.Fatalf("%s: %+v, want success", name, s)
			}
			must(t, json.Unmarshal(s.Value, v))
		}
		refused("badSecret", "SignatureDoesNotMatch", http.StatusForbidden)
		refused("badExternalId", "AccessDenied", http.StatusForbidden)
		refused("forgedSession", "InvalidClientTokenId", http.StatusForbidden)
		refused("getCustomers", "AccessDenied", http.StatusForbidden)

		var assumed struct {
			AccessKeyID      string `json:"accessKeyId"`
			Expiration       string `json:"expiration"`
			Arn              string `json:"arn"`
			AssumedRoleID    string `json:"assumedRoleId"`
			PackedPolicySize int    `json:"packedPolicySize"`
		}
		value("assume", &assumed)
		if assumed.Arn != "arn:aws:sts::000000000000:assumed-role/table-access/aws-sdk-js" ||
			!strings.HasPrefix(assumed.AccessKeyID, "ASIA") || !strings.HasPrefix(assumed.AssumedRoleID, "AROA") || !strings.HasSuffix(assumed.AssumedRoleID, ":aws-sdk-js") ||
			assumed.PackedPolicySize <= 0 || assumed.PackedPolicySize > 100 {
			t.Errorf("AssumeRole: %+v", assumed)
		}
		if exp, err := time.Parse(time.RFC3339, assumed.Expiration); err != nil || !exp.After(time.Now()) {
			t.Errorf("Expiration %q: %v", assumed.Expiration, err)
		}
		type identity struct{ Arn, UserID, Account string }
		var who, me identity
		value("identity", &who)
		if who != (identity{assumed.Arn, assumed.AssumedRoleID, "000000000000"}) {
			t.Errorf("GetCallerIdentity of the vended session: %+v", who)
		}
		value("principalIdentity", &me)
		if me != (identity{principalArn, e.principalID, "000000000000"}) {
			t.Errorf("GetCallerIdentity of the principal: %+v", me)
		}
		var body string
		value("getOrders", &body)
		if body != "data of orders/part-0.parquet" {
			t.Errorf("GetObject orders: %q", body)
		}
	})

	// Presigned requests: the signature is in the query string, and the
	// request is a GET anyone holding the URL can send.
	t.Run("presigned requests", func(t *testing.T) {
		catalog := e.stsClient(e.principal)
		gci, err := sts.NewPresignClient(catalog).PresignGetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		must(t, err)
		u, err := url.Parse(gci.URL)
		must(t, err)
		q := u.Query()
		if gci.Method != http.MethodGet || q.Get("X-Amz-Signature") == "" || q.Get("Action") != "GetCallerIdentity" {
			t.Fatalf("the SDK presigned %s %s", gci.Method, gci.URL)
		}

		// Refusals first: one byte of the query changed, in a signed
		// parameter the STS checks against nothing else (the region of the
		// scope), in the signed time (the seconds of X-Amz-Date), in the
		// action, and in the signature itself.
		changeOne := func(param string, at func(v string) int) string {
			v := q.Get(param)
			i := at(v)
			b := []byte(v)
			switch {
			case b[i] >= '0' && b[i] <= '8':
				b[i]++
			case b[i] == '9':
				b[i] = '0'
			case b[i] == 'a':
				b[i] = 'b'
			default:
				b[i] = 'a'
			}
			tampered := strings.Replace(u.RawQuery, url.QueryEscape(param)+"="+url.QueryEscape(v), url.QueryEscape(param)+"="+url.QueryEscape(string(b)), 1)
			if tampered == u.RawQuery {
				t.Fatalf("%s not changed in %s", param, u.RawQuery)
			}
			c := *u
			c.RawQuery = tampered
			return c.String()
		}
		for name, tampered := range map[string]string{
			"region in the scope": changeOne("X-Amz-Credential", func(v string) int { return strings.Index(v, "us-east-1") + len("us-east-") }),
			"seconds of the date": changeOne("X-Amz-Date", func(v string) int { return len(v) - 2 }),
			"signature":           changeOne("X-Amz-Signature", func(string) int { return 0 }),
		} {
			a := send(t, presigned(t, gci, tampered))
			if a.Status != http.StatusForbidden || a.Code != "SignatureDoesNotMatch" {
				t.Errorf("presigned GetCallerIdentity, %s changed: %s", name, a)
			}
		}
		// An AssumeRole presigned for more than an hour is refused before
		// its signature is even looked at; an hour is accepted.
		in := &sts.AssumeRoleInput{RoleArn: aws.String(tableAccessArn), RoleSessionName: aws.String("presigned"), ExternalId: aws.String(externalID),
			Tags: []ststypes.Tag{{Key: aws.String("table"), Value: aws.String("orders")}}}
		long, err := sts.NewPresignClient(catalog).PresignAssumeRole(ctx, in, withPresigner(presigner{expires: "3601"}))
		must(t, err)
		if !strings.Contains(long.URL, "X-Amz-Expires=3601") {
			t.Fatalf("no X-Amz-Expires in %s", long.URL)
		}
		if a := send(t, presigned(t, long, long.URL)); a.Status != http.StatusBadRequest || a.Code != "InvalidParameterValue" {
			t.Errorf("presigned AssumeRole for 3601 s: %s", a)
		}
		week, err := sts.NewPresignClient(catalog).PresignAssumeRole(ctx, in, withPresigner(presigner{expires: "604800"}))
		must(t, err)
		if a := send(t, presigned(t, week, week.URL)); a.Status != http.StatusBadRequest || a.Code != "InvalidParameterValue" {
			t.Errorf("presigned AssumeRole for AWS's 7 days: %s", a)
		}
		// Past its expiry: signed two hours ago for an hour.
		gone, err := sts.NewPresignClient(catalog).PresignGetCallerIdentity(ctx, &sts.GetCallerIdentityInput{},
			withPresigner(presigner{expires: "3600", shift: -2 * time.Hour}))
		must(t, err)
		if a := send(t, presigned(t, gone, gone.URL)); a.Status != http.StatusBadRequest || a.Code != "RequestExpired" {
			t.Errorf("presigned two hours ago for one: %s", a)
		}

		// The presigned GetCallerIdentity as the SDK made it.
		a := send(t, presigned(t, gci, gci.URL))
		if a.Status != http.StatusOK || a.Arn != principalArn || a.UserID != e.principalID {
			t.Errorf("presigned GetCallerIdentity: %s", a)
		}
		// Signed ten minutes ago for fifteen: still valid (past the clock
		// skew a header signature is allowed, within its X-Amz-Expires).
		old, err := sts.NewPresignClient(catalog).PresignGetCallerIdentity(ctx, &sts.GetCallerIdentityInput{},
			withPresigner(presigner{expires: "900", shift: -10 * time.Minute}))
		must(t, err)
		if a := send(t, presigned(t, old, old.URL)); a.Status != http.StatusOK || a.Arn != principalArn {
			t.Errorf("presigned ten minutes ago for fifteen: %s", a)
		}
		hour, err := sts.NewPresignClient(catalog).PresignAssumeRole(ctx, in, withPresigner(presigner{expires: "3600"}))
		must(t, err)
		if hour.Method != http.MethodGet {
			t.Errorf("presigned AssumeRole is a %s", hour.Method)
		}
		a = send(t, presigned(t, hour, hour.URL))
		if a.Status != http.StatusOK || a.AssumedArn != "arn:aws:sts::000000000000:assumed-role/table-access/presigned" || !strings.HasPrefix(a.AccessKeyID, "ASIA") {
			t.Errorf("presigned AssumeRole for an hour: %s", a)
		}
	})

	// Signatures from another time: X-Amz-Date ten minutes behind or ahead
	// of the server is RequestExpired (400), whoever signed; the same
	// hand-made request signed now is granted.
	t.Run("stale and future signatures", func(t *testing.T) {
		now := time.Now()
		for name, at := range map[string]time.Time{"ten minutes ago": now.Add(-10 * time.Minute), "in ten minutes": now.Add(10 * time.Minute)} {
			a := send(t, e.signedPost(t, principal, assumeRoleForm("stale"), at))
			if a.Status != http.StatusBadRequest || a.Code != "RequestExpired" {
				t.Errorf("AssumeRole signed %s: %s", name, a)
			}
		}
		web, _ := e.webSession(t, "stale")
		wc, err := web.Retrieve(ctx)
		must(t, err)
		gci := []byte("Action=GetCallerIdentity&Version=2011-06-15")
		if a := send(t, e.signedPost(t, wc, gci, now.Add(-10*time.Minute))); a.Status != http.StatusBadRequest || a.Code != "RequestExpired" {
			t.Errorf("a session's GetCallerIdentity signed ten minutes ago: %s", a)
		}
		// GetCallerIdentity repeats the session's AssumedRoleUser: the
		// role of its RoleArn and its RoleSessionName.
		if a := send(t, e.signedPost(t, wc, gci, time.Now())); a.Status != http.StatusOK || a.Arn != "arn:aws:sts::000000000000:assumed-role/etl/stale" || !strings.HasPrefix(a.UserID, "AROA") || !strings.HasSuffix(a.UserID, ":stale") {
			t.Errorf("a session's GetCallerIdentity signed now: %s", a)
		}
		a := send(t, e.signedPost(t, principal, assumeRoleForm("now"), time.Now()))
		if a.Status != http.StatusOK || a.AssumedArn != "arn:aws:sts::000000000000:assumed-role/table-access/now" {
			t.Errorf("AssumeRole signed now: %s", a)
		}
	})

	// A revoked session no longer signs: not AssumeRole (chaining), not
	// GetCallerIdentity. The STS answers InvalidClientTokenId (403), as
	// for a token that does not verify: revocation is not expiry.
	t.Run("revoked sessions do not chain", func(t *testing.T) {
		chain := func(p aws.CredentialsProvider, name string) error {
			_, err := e.stsClient(p).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::000000000000:role/lake-reader"), RoleSessionName: aws.String(name)})
			return err
		}
		refused := func(what string, p aws.CredentialsProvider) {
			t.Helper()
			err := chain(p, "after-revocation")
			if got := apiCode(err); got != "InvalidClientTokenId" {
				t.Errorf("%s: AssumeRole: %v (code %q)", what, err, got)
			}
			_, err = e.stsClient(p).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
			if got := apiCode(err); got != "InvalidClientTokenId" {
				t.Errorf("%s: GetCallerIdentity: %v (code %q)", what, err, got)
			}
		}

		// By session id: that session only.
		one, oc := e.webSession(t, "revoked-one")
		other, _ := e.webSession(t, "kept")
		must(t, chain(one, "before-revocation"))
		jti, sub := tokenClaims(t, aws.ToString(oc.SessionToken))
		e.revoke(t, "session", jti)
		refused("session revoked by id", one)
		// The same request signed by hand, to see the status.
		c, err := one.Retrieve(ctx)
		must(t, err)
		lake := []byte(url.Values{"Action": {"AssumeRole"}, "Version": {"2011-06-15"},
			"RoleArn": {"arn:aws:iam::000000000000:role/lake-reader"}, "RoleSessionName": {"xx"}}.Encode())
		if a := send(t, e.signedPost(t, c, lake, time.Now())); a.Status != http.StatusForbidden || a.Code != "InvalidClientTokenId" {
			t.Errorf("revoked session, signed by hand: %s", a)
		}
		if err := chain(other, "unaffected"); err != nil {
			t.Errorf("another session of the same subject after a session revocation: %v", err)
		}

		// By subject: every session of it issued until now, and the sessions
		// chained from them (they keep the subject).
		ch, err := e.stsClient(other).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::000000000000:role/lake-reader"), RoleSessionName: aws.String("chained")})
		must(t, err)
		chained := credentials.NewStaticCredentialsProvider(aws.ToString(ch.Credentials.AccessKeyId), aws.ToString(ch.Credentials.SecretAccessKey), aws.ToString(ch.Credentials.SessionToken))
		if _, chainedSub := tokenClaims(t, aws.ToString(ch.Credentials.SessionToken)); chainedSub != sub {
			t.Errorf("the chained session's subject is %q, its source's %q", chainedSub, sub)
		}
		e.revoke(t, "subject", sub)
		refused("session of a revoked subject", other)
		refused("session chained from a session of a revoked subject", chained)
	})

	// The AWS CLI (botocore) asks who the principal is, with its static
	// keys in the environment.
	t.Run("the AWS CLI: get-caller-identity of the principal", func(t *testing.T) {
		_, stderr, err := awscli.Run(t, []string{"AWS_ACCESS_KEY_ID=" + e.principalID, "AWS_SECRET_ACCESS_KEY=" + e.principalSecret + "x"},
			"sts", "get-caller-identity", "--endpoint-url", e.stsURL)
		if err == nil || !strings.Contains(stderr, "(SignatureDoesNotMatch)") {
			t.Errorf("a wrong secret: %v\n%s", err, stderr)
		}
		out := awscli.MustRun(t, []string{"AWS_ACCESS_KEY_ID=" + e.principalID, "AWS_SECRET_ACCESS_KEY=" + e.principalSecret},
			"sts", "get-caller-identity", "--endpoint-url", e.stsURL)
		var id struct{ UserId, Account, Arn string }
		must(t, json.Unmarshal([]byte(out), &id))
		if id.Arn != principalArn || id.UserId != e.principalID || id.Account != "000000000000" {
			t.Errorf("get-caller-identity: %s", out)
		}
	})

	// plugins.sts.region is us-east-1 here: a client configured for
	// another region signs for it and is refused, as at an AWS regional
	// endpoint, whatever its keys.
	t.Run("a signature for another region", func(t *testing.T) {
		_, stderr, err := awscli.Run(t, []string{"AWS_ACCESS_KEY_ID=" + e.principalID, "AWS_SECRET_ACCESS_KEY=" + e.principalSecret},
			"sts", "get-caller-identity", "--endpoint-url", e.stsURL, "--region", "eu-west-1")
		if err == nil || !strings.Contains(stderr, "(SignatureDoesNotMatch)") || !strings.Contains(stderr, "scoped to a valid region") {
			t.Errorf("the AWS CLI for eu-west-1: %v\n%s", err, stderr)
		}
		c := sts.New(sts.Options{Region: "eu-west-1", BaseEndpoint: aws.String(e.stsURL), Credentials: e.principal})
		if _, err := c.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); apiCode(err) != "SignatureDoesNotMatch" {
			t.Errorf("aws-sdk-go-v2 for eu-west-1: %v", err)
		}
	})
}
