package miniodiff_test

// Requests are signed by hand (minio-go's SigV4 signer) rather than sent
// with minio-go's client: the client answers GetBucketLocation from its
// configured region without asking, turns NoSuchBucketPolicy into an empty
// policy, and cannot add an X-Forwarded-For header per request. Here every
// request reaches the server and its answer is read as it is.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"

	miniocreds "github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/s3utils"
	"github.com/minio/minio-go/v7/pkg/signer"
)

// outcome is a normalised answer: Code is "allowed" for a 2xx answer, else
// the S3 (or admin API) error code; Detail is what an allowed answer
// returned that must agree too (listed keys, bucket names, a digest of
// an object's content).
type outcome struct {
	Code   string `json:"code"`
	Detail string `json:"detail,omitempty"`
}

func (o outcome) String() string {
	if o.Detail != "" {
		return o.Code + " [" + o.Detail + "]"
	}
	return o.Code
}

const allowed = "allowed"

// call sends one signed request to endpoint (http://host:port or
// https://host:port) with client.
func call(ctx context.Context, client *http.Client, endpoint string, creds miniocreds.Value, method, path string, query url.Values, body []byte, sourceIP string) (int, []byte, error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		return 0, nil, err
	}
	u.Path = path
	u.RawPath = s3utils.EncodePath(path)
	if len(query) > 0 {
		u.RawQuery = query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.ContentLength = int64(len(body))
	sum := sha256.Sum256(body)
	req.Header.Set("X-Amz-Content-Sha256", hex.EncodeToString(sum[:]))
	req = signer.SignV4(*req, creds.AccessKeyID, creds.SecretAccessKey, creds.SessionToken, "us-east-1")
	if sourceIP != "" {
		// Added after signing, as a proxy in front of MinIO would.
		req.Header.Set("X-Forwarded-For", sourceIP)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	return resp.StatusCode, raw, err
}

// errorCode reads the code of an S3 (XML) or admin API (JSON) error.
func errorCode(status int, body []byte) string {
	var x struct {
		Code string `xml:"Code"`
	}
	if xml.Unmarshal(body, &x) == nil && x.Code != "" {
		return x.Code
	}
	var j struct {
		Code string `json:"Code"`
	}
	if json.Unmarshal(body, &j) == nil && j.Code != "" {
		return j.Code
	}
	return fmt.Sprintf("HTTP %d", status)
}

// do performs r with creds against endpoint and normalises the answer.
func do(ctx context.Context, client *http.Client, endpoint string, creds miniocreds.Value, r request) outcome {
	var (
		method = http.MethodGet
		path   = "/" + r.Bucket
		query  = url.Values{}
		body   []byte
	)
	if r.Key != "" {
		path += "/" + r.Key
	}
	switch r.Op {
	case opGetObject:
	case opPutObject:
		method = http.MethodPut
		body = []byte("written by the differential test\n")
	case opDeleteObject:
		method = http.MethodDelete
	case opGetObjectTagging:
		query.Set("tagging", "")
	case opListObjects:
		query.Set("list-type", "2")
		query.Set("prefix", r.Prefix)
		if !r.Recursive {
			query.Set("delimiter", "/")
		}
	case opGetBucketLocation:
		query.Set("location", "")
	case opGetBucketPolicy:
		query.Set("policy", "")
	case opListBuckets:
		path = "/"
	case opAdminInfo:
		path = "/minio/admin/v3/info"
	case opAdminListUsers:
		path = "/minio/admin/v3/list-users"
	default:
		panic("unknown op " + r.Op)
	}
	status, raw, err := call(ctx, client, endpoint, creds, method, path, query, body, r.SourceIP)
	if err != nil {
		return outcome{Code: "transport error: " + err.Error()}
	}
	if status/100 != 2 {
		return outcome{Code: errorCode(status, raw)}
	}
	o := outcome{Code: allowed}
	switch r.Op {
	case opGetObject:
		sum := sha256.Sum256(raw)
		o.Detail = fmt.Sprintf("%d bytes sha256:%x", len(raw), sum[:6])
	case opListObjects:
		var l struct {
			Contents []struct {
				Key string `xml:"Key"`
			} `xml:"Contents"`
			CommonPrefixes []struct {
				Prefix string `xml:"Prefix"`
			} `xml:"CommonPrefixes"`
		}
		if err := xml.Unmarshal(raw, &l); err != nil {
			return outcome{Code: "unreadable listing: " + err.Error()}
		}
		var names []string
		for _, c := range l.Contents {
			names = append(names, c.Key)
		}
		for _, p := range l.CommonPrefixes {
			names = append(names, p.Prefix)
		}
		sort.Strings(names)
		o.Detail = strings.Join(names, ",")
	case opListBuckets:
		var l struct {
			Buckets []struct {
				Name string `xml:"Name"`
			} `xml:"Buckets>Bucket"`
		}
		if err := xml.Unmarshal(raw, &l); err != nil {
			return outcome{Code: "unreadable bucket list: " + err.Error()}
		}
		var names []string
		for _, b := range l.Buckets {
			names = append(names, b.Name)
		}
		sort.Strings(names)
		o.Detail = strings.Join(names, ",")
	case opGetObjectTagging, opGetBucketLocation:
		o.Detail = strings.TrimSpace(string(raw))
	}
	return o
}
