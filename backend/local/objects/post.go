package objects

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

const (
	// maxFormFieldBytes caps everything before the file, like S3's 20 KB pre-data limit
	// with room to spare.
	maxFormFieldBytes = 64 << 10
	maxKeyBytes       = 1024
	defaultObjectType = "binary/octet-stream" // what S3 stores when no Content-Type is given
)

// condition is one parsed policy condition.
type condition struct {
	op       string // "eq", "starts-with" or "content-length-range"
	field    string // lower-case form field name, without "$"
	value    string
	min, max int64
	text     string // as written in the policy, for the error message
}

// postForm is what precedes the file in a browser POST.
type postForm struct {
	fields map[string]string // lower-case names
	names  []string          // in order, as sent
}

func (f postForm) get(name string) (string, bool) {
	v, ok := f.fields[name]
	return v, ok
}

// browserUpload serves S3's browser-based upload: it checks the policy's signature,
// expiry and every condition before reading the file, reads at most the allowed
// size plus one byte, stores the object and calls OnUpload.
func (s *Server) browserUpload(w http.ResponseWriter, r *http.Request, bucket string) {
	limit := s.MaxRequestBytes
	if limit <= 0 {
		limit = DefaultMaxRequestBytes
	}
	if r.ContentLength > limit {
		writeError(w, r, http.StatusBadRequest, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size.")
		return
	}
	body := http.MaxBytesReader(w, r.Body, limit)
	key, etag, status, err := s.acceptUpload(r, body, bucket, limit)
	if err != nil {
		// Reading the bounded rest lets browsers and HTTP clients, which are still
		// sending, see the refusal instead of a reset connection.
		io.Copy(io.Discard, body)
		writeError(w, r, err.status, err.code, err.message)
		return
	}
	if s.OnUpload != nil {
		s.OnUpload(r.Context(), bucket, key)
	}
	location := objectURL(r, bucket, key)
	w.Header().Set("ETag", etag)
	w.Header().Set("Location", location)
	switch status {
	case http.StatusCreated:
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusCreated)
		xml.NewEncoder(w).Encode(struct {
			XMLName  xml.Name `xml:"PostResponse"`
			Location string
			Bucket   string
			Key      string
			ETag     string
		}{Location: location, Bucket: bucket, Key: key, ETag: etag})
	default:
		w.WriteHeader(status)
	}
}

func (s *Server) acceptUpload(r *http.Request, body io.Reader, bucket string, limit int64) (key, etag string, status int, _ *s3Error) {
	mediaType, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mediaType != "multipart/form-data" || params["boundary"] == "" {
		return "", "", 0, malformed("Bucket POST must be of the enclosure-type multipart/form-data.")
	}
	parts := multipart.NewReader(body, params["boundary"])
	form, file, rerr := readFieldsUntilFile(parts)
	if rerr != nil {
		return "", "", 0, rerr
	}
	defer file.Close()

	conditions, verr := s.verifyPolicy(form)
	if verr != nil {
		return "", "", 0, verr
	}
	sizeMin, sizeMax := int64(0), limit
	for _, c := range conditions {
		switch c.op {
		case "content-length-range":
			sizeMin, sizeMax = max(sizeMin, c.min), min(sizeMax, c.max)
		default:
			got, present := form.get(c.field)
			if c.field == "bucket" {
				got, present = bucket, true
			}
			if !present || (c.op == "eq" && got != c.value) || (c.op == "starts-with" && !strings.HasPrefix(got, c.value)) {
				return "", "", 0, accessDenied("Invalid according to Policy: Policy Condition failed: " + c.text)
			}
		}
	}
	if extra := uncovered(form, conditions); extra != "" {
		return "", "", 0, accessDenied("Invalid according to Policy: Extra input fields: " + extra)
	}
	if named, ok := form.get("bucket"); ok && named != bucket {
		return "", "", 0, &s3Error{http.StatusBadRequest, "InvalidArgument", "The bucket field does not match the bucket of the URL."}
	}
	key, _ = form.get("key")
	if key == "" {
		return "", "", 0, &s3Error{http.StatusBadRequest, "InvalidArgument", "User key must have a length greater than 0."}
	}
	if len(key) > maxKeyBytes {
		return "", "", 0, &s3Error{http.StatusBadRequest, "KeyTooLongError", "Your key is too long."}
	}
	if exists, err := s.backend.BucketExists(bucket); err != nil {
		return "", "", 0, &s3Error{http.StatusInternalServerError, "InternalError", "We encountered an internal error. Please try again."}
	} else if !exists {
		return "", "", 0, &s3Error{http.StatusNotFound, "NoSuchBucket", "The specified bucket does not exist."}
	}

	// One byte over the allowed size is enough to refuse; more is never read.
	data, err := io.ReadAll(io.LimitReader(file, sizeMax+1))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return "", "", 0, tooLarge(sizeMax)
		}
		return "", "", 0, malformed("The body of your POST request is not well-formed multipart/form-data.")
	}
	if int64(len(data)) > sizeMax {
		return "", "", 0, tooLarge(sizeMax)
	}
	if int64(len(data)) < sizeMin {
		return "", "", 0, &s3Error{http.StatusBadRequest, "EntityTooSmall", fmt.Sprintf(
			"Your proposed upload is smaller than the minimum allowed size (%d bytes).", sizeMin)}
	}

	meta := objectMetadata(form, s.now())
	if _, err := s.backend.PutObject(bucket, key, meta, bytes.NewReader(data), int64(len(data)), nil); err != nil {
		return "", "", 0, &s3Error{http.StatusInternalServerError, "InternalError", "We encountered an internal error. Please try again."}
	}
	sum := md5.Sum(data)
	etag = `"` + hex.EncodeToString(sum[:]) + `"`

	status = http.StatusNoContent
	switch v, _ := form.get("success_action_status"); v {
	case "200":
		status = http.StatusOK
	case "201":
		status = http.StatusCreated
	}
	return key, etag, status, nil
}

// readFieldsUntilFile reads the form fields up to the file, which S3 requires to be
// the last field (anything after it is ignored).
func readFieldsUntilFile(parts *multipart.Reader) (postForm, *multipart.Part, *s3Error) {
	form := postForm{fields: map[string]string{}}
	budget := int64(maxFormFieldBytes)
	for {
		part, err := parts.NextPart()
		if err == io.EOF {
			return form, nil, &s3Error{http.StatusBadRequest, "InvalidArgument", "POST requires exactly one file upload per request."}
		}
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				return form, nil, tooLarge(0)
			}
			return form, nil, malformed("The body of your POST request is not well-formed multipart/form-data.")
		}
		name := strings.ToLower(part.FormName())
		if name == "" {
			part.Close()
			return form, nil, malformed("The body of your POST request is not well-formed multipart/form-data.")
		}
		if name == "file" {
			return form, part, nil
		}
		value, err := io.ReadAll(io.LimitReader(part, budget+1))
		part.Close()
		if err != nil {
			return form, nil, malformed("The body of your POST request is not well-formed multipart/form-data.")
		}
		budget -= int64(len(value))
		if budget < 0 {
			return form, nil, &s3Error{http.StatusBadRequest, "MaxPostPreDataLengthExceeded",
				"Your POST request fields preceding the upload file were too large."}
		}
		if _, dup := form.fields[name]; dup {
			return form, nil, &s3Error{http.StatusBadRequest, "InvalidArgument", "The field " + part.FormName() + " appears more than once."}
		}
		form.fields[name] = string(value)
		form.names = append(form.names, part.FormName())
	}
}

// verifyPolicy checks the SigV4 signature of the policy with the store's secret and
// its expiry, and returns its conditions.
func (s *Server) verifyPolicy(form postForm) ([]condition, *s3Error) {
	policy, ok := form.get("policy")
	if !ok || policy == "" {
		return nil, accessDenied("Access Denied")
	}
	for _, name := range []string{"x-amz-algorithm", "x-amz-credential", "x-amz-date", "x-amz-signature"} {
		if v, ok := form.get(name); !ok || v == "" {
			return nil, &s3Error{http.StatusBadRequest, "InvalidArgument", "Bucket POST must contain a field named '" + name + "'."}
		}
	}
	if key, ok := form.get("key"); !ok || key == "" {
		return nil, &s3Error{http.StatusBadRequest, "InvalidArgument",
			"Bucket POST must contain a field named 'key'.  If it is specified, please check the order of the fields."}
	}
	if algorithm, _ := form.get("x-amz-algorithm"); algorithm != signingAlgorithm {
		return nil, &s3Error{http.StatusBadRequest, "InvalidArgument", "Only the AWS4-HMAC-SHA256 algorithm is supported."}
	}
	credential, _ := form.get("x-amz-credential")
	scope, err := parseCredential(credential)
	if err != nil {
		return nil, err
	}
	date, _ := form.get("x-amz-date")
	if t, perr := time.Parse(amzDateLayout, date); perr != nil || t.Format("20060102") != scope.date {
		return nil, &s3Error{http.StatusBadRequest, "InvalidArgument", "X-Amz-Date must be the date of the credential scope."}
	}
	signature, _ := form.get("x-amz-signature")
	want := hex.EncodeToString(hmacSHA256(signingKey(s.secret, scope), policy))
	if !hmac.Equal([]byte(want), []byte(strings.ToLower(signature))) {
		return nil, &s3Error{http.StatusForbidden, "SignatureDoesNotMatch",
			"The request signature we calculated does not match the signature you provided. Check your key and signing method."}
	}

	raw, derr := base64.StdEncoding.DecodeString(policy)
	if derr != nil {
		return nil, invalidPolicy("Invalid Policy: Invalid Simple-Base64 value.")
	}
	var doc struct {
		Expiration string            `json:"expiration"`
		Conditions []json.RawMessage `json:"conditions"`
	}
	if jerr := json.Unmarshal(raw, &doc); jerr != nil {
		return nil, invalidPolicy("Invalid Policy: Invalid JSON.")
	}
	if doc.Expiration == "" {
		return nil, invalidPolicy("Invalid Policy: Policy missing expiration.")
	}
	expiration, terr := time.Parse(time.RFC3339Nano, doc.Expiration)
	if terr != nil {
		return nil, invalidPolicy("Invalid Policy: Invalid 'expiration' value: '" + doc.Expiration + "'")
	}
	if !s.now().Before(expiration) {
		return nil, accessDenied("Invalid according to Policy: Policy expired.")
	}
	conditions := make([]condition, 0, len(doc.Conditions))
	for _, c := range doc.Conditions {
		parsed, perr := parseCondition(c)
		if perr != nil {
			return nil, perr
		}
		conditions = append(conditions, parsed)
	}
	return conditions, nil
}

// parseCondition reads {"field": "value"}, ["eq"|"starts-with", "$field", "value"]
// or ["content-length-range", min, max].
func parseCondition(raw json.RawMessage) (condition, *s3Error) {
	text := string(raw)
	bad := invalidPolicy("Invalid Policy: Invalid Condition: " + text)
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 {
		return condition{}, bad
	}
	if trimmed[0] == '{' {
		var pair map[string]string
		if json.Unmarshal(raw, &pair) != nil || len(pair) != 1 {
			return condition{}, bad
		}
		for name, value := range pair {
			return condition{op: "eq", field: strings.ToLower(name), value: value, text: text}, nil
		}
	}
	decoder := json.NewDecoder(bytes.NewReader(raw))
	decoder.UseNumber()
	var list []any
	if decoder.Decode(&list) != nil || len(list) != 3 {
		return condition{}, bad
	}
	op, _ := list[0].(string)
	op = strings.ToLower(op)
	switch op {
	case "content-length-range":
		lo, okLo := policyInt(list[1])
		hi, okHi := policyInt(list[2])
		if !okLo || !okHi || lo < 0 || hi < lo {
			return condition{}, bad
		}
		return condition{op: op, min: lo, max: hi, text: text}, nil
	case "eq", "starts-with":
		field, _ := list[1].(string)
		value, okValue := list[2].(string)
		name, okName := strings.CutPrefix(field, "$")
		if !okName || name == "" || !okValue {
			return condition{}, bad
		}
		return condition{op: op, field: strings.ToLower(name), value: value, text: text}, nil
	}
	return condition{}, bad
}

func policyInt(v any) (int64, bool) {
	switch n := v.(type) {
	case json.Number:
		i, err := n.Int64()
		return i, err == nil
	case string:
		i, err := strconv.ParseInt(n, 10, 64)
		return i, err == nil
	}
	return 0, false
}

// uncovered names the first form field no condition speaks of: S3 refuses fields
// the signer did not allow, except these and x-ignore-*.
func uncovered(form postForm, conditions []condition) string {
	covered := map[string]bool{"policy": true, "x-amz-signature": true, "file": true}
	for _, c := range conditions {
		covered[c.field] = true
	}
	for _, name := range form.names {
		lower := strings.ToLower(name)
		if !covered[lower] && !strings.HasPrefix(lower, "x-ignore-") {
			return name
		}
	}
	return ""
}

// objectMetadata keeps the fields S3 stores with the object, as headers.
func objectMetadata(form postForm, at time.Time) map[string]string {
	meta := map[string]string{
		"Content-Type":  defaultObjectType,
		"Last-Modified": at.UTC().Format(http.TimeFormat),
	}
	for name, value := range form.fields {
		switch {
		case name == "content-type" && value != "":
			meta["Content-Type"] = value
		case name == "cache-control", name == "content-disposition", name == "content-encoding", name == "expires",
			strings.HasPrefix(name, "x-amz-meta-"):
			meta[http.CanonicalHeaderKey(name)] = value
		}
	}
	return meta
}

func signingKey(secret string, scope credentialScope) []byte {
	key := hmacSHA256([]byte("AWS4"+secret), scope.date)
	key = hmacSHA256(key, scope.region)
	key = hmacSHA256(key, scope.service)
	return hmacSHA256(key, "aws4_request")
}

func hmacSHA256(key []byte, data string) []byte {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(data))
	return mac.Sum(nil)
}

func objectURL(r *http.Request, bucket, key string) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return (&url.URL{Scheme: scheme, Host: r.Host, Path: PathPrefix + "/" + bucket + "/" + key}).String()
}

func malformed(message string) *s3Error {
	return &s3Error{http.StatusBadRequest, "MalformedPOSTRequest", message}
}

func invalidPolicy(message string) *s3Error {
	return &s3Error{http.StatusBadRequest, "InvalidPolicyDocument", message}
}

func tooLarge(maxAllowed int64) *s3Error {
	message := "Your proposed upload exceeds the maximum allowed size."
	if maxAllowed > 0 {
		message = fmt.Sprintf("Your proposed upload exceeds the maximum allowed size (%d bytes).", maxAllowed)
	}
	return &s3Error{http.StatusBadRequest, "EntityTooLarge", message}
}

// writeError answers in S3's XML error format.
func writeError(w http.ResponseWriter, r *http.Request, status int, code, message string) {
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	if r.Method == http.MethodHead {
		return
	}
	io.WriteString(w, xml.Header)
	xml.NewEncoder(w).Encode(struct {
		XMLName xml.Name `xml:"Error"`
		Code    string
		Message string
	}{Code: code, Message: message})
}
