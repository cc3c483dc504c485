package attack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awscredentials "github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi/types"
	"github.com/coder/websocket"

	"github.com/postwall/postwall/backend/local/server"
	"github.com/postwall/postwall/backend/local/server/servertest"
)

// connectionIDShape is what API Gateway's connection ids look like (16
// characters of base64 ending in '='): nothing a shell or the AWS CLI takes
// for an option or a path.
var connectionIDShape = regexp.MustCompile(`^[A-Za-z0-9]{15}=$`)

func management(t *testing.T, s *instance, method, id string, body []byte) answer {
	t.Helper()
	req, err := http.NewRequest(method, s.Base+"/@connections/"+id, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return do(t, noRedirects, req)
}

// wantAWSError checks an error of the management API as the AWS SDK decodes
// it: status, x-amzn-ErrorType and a {"message"} body.
func wantAWSError(t *testing.T, a answer, status int, errorType string) {
	t.Helper()
	if a.Status != status {
		t.Errorf("status %d, want %d: %s", a.Status, status, a.Body)
	}
	if got := a.Header.Get("x-amzn-ErrorType"); got != errorType {
		t.Errorf("x-amzn-ErrorType %q, want %q", got, errorType)
	}
	if a.Body == "" {
		return // HEAD
	}
	var body map[string]string
	if err := json.Unmarshal([]byte(a.Body), &body); err != nil || body["message"] == "" {
		t.Errorf("body %q, want {\"message\":...}", a.Body)
	}
}

// connectionOf finds the id of the open connection whose User-Agent is ua.
func connectionOf(t *testing.T, s *instance, ua string) string {
	t.Helper()
	deadline := time.Now().Add(servertest.Wait)
	for time.Now().Before(deadline) {
		for _, id := range s.Connections() {
			a := management(t, s, http.MethodGet, id, nil)
			var info struct {
				Identity struct {
					UserAgent string `json:"userAgent"`
				} `json:"identity"`
			}
			if a.Status == http.StatusOK && json.Unmarshal([]byte(a.Body), &info) == nil && info.Identity.UserAgent == ua {
				return id
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no connection with User-Agent %q", ua)
	return ""
}

// dialAs opens a socket with its own User-Agent and returns it with its id.
func dialAs(t *testing.T, s *instance, u *servertest.User, ua string) (*websocket.Conn, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), servertest.Wait)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, u.SocketURL(), &websocket.DialOptions{HTTPHeader: http.Header{"User-Agent": {ua}}})
	if err != nil {
		t.Fatal(err)
	}
	conn.SetReadLimit(1 << 20)
	t.Cleanup(func() { conn.CloseNow() })
	return conn, connectionOf(t, s, ua)
}

func readMessage(t *testing.T, conn *websocket.Conn) (websocket.MessageType, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), servertest.Wait)
	defer cancel()
	typ, b, err := conn.Read(ctx)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return typ, b
}

// TestManagementAPI: the API Gateway Management API's answers for unknown and
// live connections, payload limits, frame types, methods and path tricks.
func TestManagementAPI(t *testing.T) {
	t.Parallel()
	s := shared(t)
	u := s.user(t, "managed")
	conn, id := dialAs(t, s, u, "attack-management-main")
	if !connectionIDShape.MatchString(id) {
		t.Errorf("connection id %q is not shaped like API Gateway's", id)
	}

	t.Run("unknown id", func(t *testing.T) {
		t.Parallel()
		for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodDelete} {
			wantAWSError(t, management(t, s, m, "AAAAAAAAAAAAAAA=", []byte(`{"type":"pong"}`)), http.StatusGone, "GoneException")
		}
	})
	t.Run("the AWS SDK", func(t *testing.T) {
		t.Parallel()
		client := apigatewaymanagementapi.New(apigatewaymanagementapi.Options{
			BaseEndpoint: aws.String(s.Base),
			Region:       "us-east-1",
			Credentials:  awscredentials.NewStaticCredentialsProvider("local", "local", ""),
		})
		ctx, cancel := context.WithTimeout(context.Background(), servertest.Wait)
		defer cancel()
		_, err := client.PostToConnection(ctx, &apigatewaymanagementapi.PostToConnectionInput{ConnectionId: aws.String("AAAAAAAAAAAAAAA="), Data: []byte("{}")})
		// (The SDK's GoneException has no message member: the body's message
		// is not decoded into it.)
		if _, ok := errors.AsType[*types.GoneException](err); !ok {
			t.Errorf("PostToConnection to an unknown id: %v, want *types.GoneException", err)
		}
		out, err := client.GetConnection(ctx, &apigatewaymanagementapi.GetConnectionInput{ConnectionId: aws.String(id)})
		if err != nil || out.ConnectedAt == nil || out.Identity == nil || aws.ToString(out.Identity.SourceIp) != "127.0.0.1" {
			t.Errorf("GetConnection: %+v, %v", out, err)
		}
	})
	t.Run("payload of 128 KiB + 1", func(t *testing.T) {
		// Not parallel: it reads conn.
		wantAWSError(t, management(t, s, http.MethodPost, id, bytes.Repeat([]byte("x"), 128<<10+1)), http.StatusRequestEntityTooLarge, "PayloadTooLargeException")
		full := append([]byte(`"`), bytes.Repeat([]byte("y"), 128<<10-2)...)
		full = append(full, '"')
		if a := management(t, s, http.MethodPost, id, full); a.Status != http.StatusOK {
			t.Fatalf("payload of 128 KiB: %d %s", a.Status, a.Body)
		}
		if typ, b := readMessage(t, conn); typ != websocket.MessageText || !bytes.Equal(b, full) {
			t.Errorf("128 KiB payload arrived as %v of %d bytes, want text of %d", typ, len(b), len(full))
		}
	})
	t.Run("frame types", func(t *testing.T) {
		for _, c := range []struct {
			payload []byte
			typ     websocket.MessageType
		}{
			{[]byte{0xff, 0xfe, 0x00, 0x01}, websocket.MessageBinary},
			{[]byte("caf\xc3"), websocket.MessageBinary}, // a sequence cut short
			{[]byte(`{"type":"pong","note":"café"}`), websocket.MessageText},
		} {
			if a := management(t, s, http.MethodPost, id, c.payload); a.Status != http.StatusOK {
				t.Fatalf("POST %q: %d %s", c.payload, a.Status, a.Body)
			}
			if typ, b := readMessage(t, conn); typ != c.typ || !bytes.Equal(b, c.payload) {
				t.Errorf("payload %q arrived as %v %q, want %v", c.payload, typ, b, c.typ)
			}
		}
	})
	t.Run("methods", func(t *testing.T) {
		t.Parallel()
		for _, m := range []string{http.MethodPut, http.MethodPatch, http.MethodHead, http.MethodOptions, "TRACE"} {
			a := management(t, s, m, id, nil)
			wantAWSError(t, a, http.StatusMethodNotAllowed, "MethodNotAllowedException")
			if a.Header.Get("Allow") != "GET, POST, DELETE" {
				t.Errorf("%s: Allow %q", m, a.Header.Get("Allow"))
			}
		}
	})
	t.Run("path tricks", func(t *testing.T) {
		t.Parallel()
		for target, want := range map[string]struct {
			status    int
			errorType string
		}{
			"/@connections/":                       {http.StatusNotFound, "NotFoundException"},
			"/@connections/" + id + "/x":           {http.StatusNotFound, "NotFoundException"},
			"/@connections/" + id + "%2fx":         {http.StatusNotFound, "NotFoundException"},
			"/@connections/..%2f" + id:             {http.StatusNotFound, "NotFoundException"},
			"/@connections/%2e%2e%2f%2e%2e%2fws":   {http.StatusNotFound, "NotFoundException"},
			"/@connections/%2e%2e":                 {http.StatusGone, "GoneException"},
			"/@connections/-" + id:                 {http.StatusGone, "GoneException"},
			"/@connections/" + strings.ToLower(id): {http.StatusGone, "GoneException"},
			"/@connections/" + id + "%00":          {http.StatusGone, "GoneException"},
			"/@connections/" + id + "%20":          {http.StatusGone, "GoneException"},
			"/@connections/*":                      {http.StatusGone, "GoneException"},
		} {
			wantAWSError(t, rawRequest(t, s, http.MethodGet, target, nil), want.status, want.errorType)
		}
		// The same id with its '=' escaped is the same connection.
		if a := rawRequest(t, s, http.MethodGet, "/@connections/"+strings.TrimSuffix(id, "=")+"%3D", nil); a.Status != http.StatusOK {
			t.Errorf("GET with %%3D: %d %s", a.Status, a.Body)
		}
	})
}

// TestManagementDeleteEndsTCPEvenIfTheClientNeverAnswers: DeleteConnection
// closes with 1000, and the TCP connection is gone within 2 s although the
// client never answers the close frame; the id is then gone.
func TestManagementDeleteEndsTCPEvenIfTheClientNeverAnswers(t *testing.T) {
	t.Parallel()
	s := shared(t)
	u := s.user(t, "deleted")
	r := dialRaw(t, s, u.Tokens.AccessToken)
	id := connectionOf(t, s, r.userAgent)
	if a := management(t, s, http.MethodDelete, id, nil); a.Status != http.StatusNoContent {
		t.Fatalf("DELETE: %d %s", a.Status, a.Body)
	}
	// Closed from the DELETE on, as §6 has it: not still described while
	// its close runs.
	wantAWSError(t, management(t, s, http.MethodGet, id, nil), http.StatusGone, "GoneException")
	wantAWSError(t, management(t, s, http.MethodPost, id, []byte("{}")), http.StatusGone, "GoneException")
	if code := r.closedBy(t); code != int(websocket.StatusNormalClosure) {
		t.Errorf("close code %d, want 1000", code)
	}
	wantAWSError(t, management(t, s, http.MethodGet, id, nil), http.StatusGone, "GoneException")
	wantAWSError(t, management(t, s, http.MethodPost, id, []byte("{}")), http.StatusGone, "GoneException")
}

// TestManagementRefusesOtherThanLoopback: from any other address the
// management API is 403, since locally nothing else stands for IAM.
func TestManagementRefusesOtherThanLoopback(t *testing.T) {
	t.Parallel()
	ip := nonLoopbackIPv4()
	if ip == nil {
		t.Skip("this machine has no non-loopback IPv4 address to call from")
	}
	// Listening on that address only: callers there are not loopback.
	s := start(t, func(c *server.Config) { c.Addr = net.JoinHostPort(ip.String(), "0") })
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodDelete} {
		wantAWSError(t, management(t, s, m, "AAAAAAAAAAAAAAA=", []byte("{}")), http.StatusForbidden, "ForbiddenException")
	}
}

func nonLoopbackIPv4() net.IP {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil && !n.IP.IsLinkLocalUnicast() {
			return n.IP
		}
	}
	return nil
}
