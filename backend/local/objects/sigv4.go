package objects

import (
	"context"
	"crypto/subtle"
	"net/http"
	"strings"
	"time"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

const (
	signingAlgorithm = "AWS4-HMAC-SHA256"
	amzDateLayout    = "20060102T150405Z"
	// maxClockSkew is S3's tolerance between a request's X-Amz-Date and the clock.
	maxClockSkew = 15 * time.Minute
)

// s3Error is a refusal in S3's terms: HTTP status, error code and message.
type s3Error struct {
	status  int
	code    string
	message string
}

func (e *s3Error) Error() string { return e.code + ": " + e.message }

func accessDenied(message string) *s3Error {
	return &s3Error{http.StatusForbidden, "AccessDenied", message}
}

// verifyHeaderSignature checks a SigV4 Authorization header by signing the same
// request again with the store's secret and comparing. The payload hash is taken
// as declared (X-Amz-Content-Sha256), not recomputed: the signature still binds the
// method, path, query, signed headers and time.
func (s *Server) verifyHeaderSignature(r *http.Request) *s3Error {
	auth := r.Header.Get("Authorization")
	rest, ok := strings.CutPrefix(auth, signingAlgorithm+" ")
	if !ok {
		return accessDenied("Access Denied")
	}
	params := map[string]string{}
	for _, part := range strings.Split(rest, ",") {
		name, value, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return &s3Error{http.StatusBadRequest, "AuthorizationHeaderMalformed", "The authorization header is malformed."}
		}
		params[name] = value
	}
	credential, signedHeaders, signature := params["Credential"], params["SignedHeaders"], params["Signature"]
	if credential == "" || signedHeaders == "" || signature == "" {
		return &s3Error{http.StatusBadRequest, "AuthorizationHeaderMalformed", "The authorization header is malformed."}
	}
	scope, err := parseCredential(credential)
	if err != nil {
		return err
	}
	signingTime, perr := time.Parse(amzDateLayout, r.Header.Get("X-Amz-Date"))
	if perr != nil || signingTime.Format("20060102") != scope.date {
		return accessDenied("X-Amz-Date is missing or does not match the credential scope.")
	}
	if skew := s.now().Sub(signingTime); skew > maxClockSkew || skew < -maxClockSkew {
		return &s3Error{http.StatusForbidden, "RequestTimeTooSkewed", "The difference between the request time and the current time is too large."}
	}
	payloadHash := r.Header.Get("X-Amz-Content-Sha256")
	if payloadHash == "" {
		return &s3Error{http.StatusBadRequest, "InvalidRequest", "Missing required header for this request: x-amz-content-sha256"}
	}

	again, rerr := http.NewRequestWithContext(context.Background(), r.Method, r.URL.String(), nil)
	if rerr != nil {
		return &s3Error{http.StatusBadRequest, "InvalidURI", "Couldn't parse the specified URI."}
	}
	again.URL = r.URL
	again.Host = r.Host
	for _, name := range strings.Split(signedHeaders, ";") {
		switch name {
		case "host":
		case "content-length":
			again.ContentLength = r.ContentLength
		default:
			if values, ok := r.Header[http.CanonicalHeaderKey(name)]; ok {
				again.Header[http.CanonicalHeaderKey(name)] = values
			}
		}
	}
	creds := s.Credentials()
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, again, payloadHash, scope.service, scope.region, signingTime,
		func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true }); err != nil {
		return &s3Error{http.StatusInternalServerError, "InternalError", "signing failed"}
	}
	_, want, _ := strings.Cut(again.Header.Get("Authorization"), "Signature=")
	if subtle.ConstantTimeCompare([]byte(want), []byte(signature)) != 1 {
		return &s3Error{http.StatusForbidden, "SignatureDoesNotMatch",
			"The request signature we calculated does not match the signature you provided. Check your key and signing method."}
	}
	return nil
}

// credentialScope is "AKID/DATE/REGION/SERVICE/aws4_request" taken apart.
type credentialScope struct {
	date, region, service string
}

func parseCredential(credential string) (credentialScope, *s3Error) {
	parts := strings.Split(credential, "/")
	if len(parts) != 5 || parts[4] != "aws4_request" || parts[3] != "s3" || len(parts[1]) != 8 {
		return credentialScope{}, &s3Error{http.StatusBadRequest, "AuthorizationHeaderMalformed", "The credential is malformed: " + credential}
	}
	if parts[0] != AccessKeyID {
		return credentialScope{}, &s3Error{http.StatusForbidden, "InvalidAccessKeyId",
			"The AWS Access Key Id you provided does not exist in our records."}
	}
	return credentialScope{date: parts[1], region: parts[2], service: parts[3]}, nil
}
