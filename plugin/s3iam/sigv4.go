package s3iam

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// maxClockSkew bounds the difference between the gateway's X-Amz-Date
// and ours.
const maxClockSkew = 5 * time.Minute

// gatewayAuth checks that requests come from the configured gateway
// credential. One signer serves every request: it caches the signing key
// it derives per day, so a request costs the canonicalisation and one
// HMAC, not five.
type gatewayAuth struct {
	accessKey, secretKey string
	signer               *v4.Signer
}

func newGatewayAuth(accessKey, secretKey string) *gatewayAuth {
	return &gatewayAuth{accessKey: accessKey, secretKey: secretKey, signer: v4.NewSigner()}
}

// verify checks that r (with its already-read body) is signed with SigV4
// by the gateway credential for service "iam". The signature is recomputed
// with aws-sdk-go-v2's signer over the same signed headers and compared in
// constant time.
func (g *gatewayAuth) verify(r *http.Request, body []byte, now time.Time) error {
	accessKey, secretKey := g.accessKey, g.secretKey
	auth := r.Header.Get("Authorization")
	const algo = "AWS4-HMAC-SHA256 "
	if !strings.HasPrefix(auth, algo) {
		return errors.New("not a SigV4 request")
	}
	fields := map[string]string{}
	for _, part := range strings.Split(strings.TrimPrefix(auth, algo), ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if ok {
			fields[k] = v
		}
	}
	scope := strings.Split(fields["Credential"], "/")
	if len(scope) != 5 || scope[3] != "iam" || scope[4] != "aws4_request" {
		return errors.New("bad credential scope")
	}
	if !hmac.Equal([]byte(scope[0]), []byte(accessKey)) {
		return errors.New("unknown access key")
	}
	t, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		return errors.New("bad X-Amz-Date")
	}
	if d := now.Sub(t); d > maxClockSkew || d < -maxClockSkew {
		return errors.New("request time too skewed")
	}
	if t.Format("20060102") != scope[1] {
		return errors.New("credential date does not match X-Amz-Date")
	}
	sum := sha256.Sum256(body)
	payload := hex.EncodeToString(sum[:])
	if r.Header.Get("X-Amz-Content-Sha256") != payload {
		return errors.New("payload hash mismatch")
	}
	// Re-sign a copy carrying only the headers the gateway signed.
	// No body: the payload hash stands for it, and a Content-Length would
	// make the signer sign that header too.
	c, err := http.NewRequestWithContext(context.Background(), r.Method, "http://"+r.Host+r.URL.RequestURI(), nil)
	if err != nil {
		return fmt.Errorf("rebuild request: %w", err)
	}
	c.Host = r.Host
	for _, h := range strings.Split(fields["SignedHeaders"], ";") {
		switch h {
		case "host", "":
			continue
		case "content-length":
			// The signer signs Content-Length from the request's length.
			c.ContentLength = int64(len(body))
			continue
		}
		for _, v := range r.Header.Values(h) {
			c.Header.Add(h, v)
		}
	}
	err = g.signer.SignHTTP(context.Background(), aws.Credentials{AccessKeyID: accessKey, SecretAccessKey: secretKey},
		c, payload, "iam", scope[2], t)
	if err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	// The whole header must be the one the signer writes: the same
	// signature under another spelling (header names in other case or
	// order, other separators) is not accepted, so one request has one
	// form. versitygw signs with the same library.
	want := c.Header.Get("Authorization")
	if signatureOf(want) == "" || !hmac.Equal([]byte(want), []byte(auth)) {
		return errors.New("signature does not match")
	}
	return nil
}

func signatureOf(auth string) string {
	i := strings.LastIndex(auth, "Signature=")
	if i < 0 {
		return ""
	}
	return auth[i+len("Signature="):]
}

// signingKey derives the SigV4 signing key (kSigning) of a secret for a
// date (yyyymmdd), region and service.
func signingKey(secret, date, region, service string) []byte {
	h := func(key []byte, data string) []byte {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(data))
		return m.Sum(nil)
	}
	return h(h(h(h([]byte("AWS4"+secret), date), region), service), "aws4_request")
}
