package sts

import "testing"

// FuzzSessionPolicy: the Policy parameter, any bytes. It is refused with
// MalformedPolicyDocument or accepted as a document that compiles; it
// never panics and never passes unparsed.
func FuzzSessionPolicy(f *testing.F) {
	for _, s := range []string{
		`{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}]}`,
		`{"Statement": {"Effect": "Deny", "NotAction": "s3:*", "NotResource": "*", "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}}`,
		`[{"Effect": "Allow", "Action": "*", "Resource": "*"}]`,
		`{"Statement": [], "Statement": []}`, `{`, ``, `null`, `{"Statement": [{"Sid": 1}]}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, policy string) {
		doc, werr := checkSessionPolicy(policy)
		switch {
		case werr != nil && werr.Code != "MalformedPolicyDocument":
			t.Fatalf("code %s", werr.Code)
		case werr == nil && policy != "" && doc == nil:
			t.Fatal("accepted without a document")
		}
	})
}
