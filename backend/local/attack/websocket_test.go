package attack

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/postwall/postwall/backend/local/server/servertest"
	"github.com/postwall/postwall/backend/wall"
)

// closeGrace is how long after a close the contract lets the TCP connection
// live (§5), whether or not the client answers the close frame.
const closeGrace = 2 * time.Second

// dialSocket opens a socket to url; status is the handshake's HTTP status.
func dialSocket(t *testing.T, url string) (*servertest.Socket, int, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), servertest.Wait)
	defer cancel()
	sock, status, err := servertest.DialSocket(ctx, url, nil)
	if err != nil {
		return nil, status, err
	}
	sock.T = t
	t.Cleanup(func() { sock.Conn.CloseNow() })
	return sock, status, nil
}

// reply sends frame and waits for the answer to requestID.
func reply(t *testing.T, sock *servertest.Socket, frame any, requestID string) servertest.Frame {
	t.Helper()
	sock.Send(frame)
	ctx, cancel := context.WithTimeout(context.Background(), servertest.Wait)
	defer cancel()
	f, err := sock.Reply(ctx, requestID)
	if err != nil {
		t.Fatalf("no answer to %q: %v", requestID, err)
	}
	return f
}

// stillOpen checks that the socket still answers a ping.
func stillOpen(t *testing.T, sock *servertest.Socket) {
	t.Helper()
	sock.Send(map[string]string{"action": wall.ActionPing})
	sock.Next(wall.FramePong)
}

// rawSocket is a WebSocket spoken by hand over TCP, for frames no library
// sends and for a client that never answers a close.
type rawSocket struct {
	conn      net.Conn
	r         *bufio.Reader
	userAgent string // unique: the management API tells the connection by it
}

func dialRaw(t *testing.T, s *instance, token string) *rawSocket {
	t.Helper()
	host := strings.TrimPrefix(s.Base, "http://")
	conn, err := net.DialTimeout("tcp", host, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	key := make([]byte, 16)
	_, _ = rand.Read(key)
	ua := "attack-raw-" + base64.RawURLEncoding.EncodeToString(key)
	fmt.Fprintf(conn, "GET /ws?token=%s HTTP/1.1\r\nHost: %s\r\nUser-Agent: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: %s\r\n\r\n",
		url.QueryEscape(token), host, ua, base64.StdEncoding.EncodeToString(key))
	r := bufio.NewReader(conn)
	_ = conn.SetReadDeadline(time.Now().Add(servertest.Wait))
	resp, err := http.ReadResponse(r, &http.Request{Method: http.MethodGet})
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: %d", resp.StatusCode)
	}
	return &rawSocket{conn: conn, r: r, userAgent: ua}
}

// header bits of a frame (RFC 6455 §5.2).
const (
	finBit = 0x80
	rsv1   = 0x40
	opCont = 0x0
	opText = 0x1
	opBin  = 0x2
	opClos = 0x8
	opPing = 0x9
)

// frame is one frame to write: first is the first header byte (FIN, RSV
// and opcode).
func (r *rawSocket) write(t *testing.T, first byte, payload []byte, masked bool) {
	t.Helper()
	var h []byte
	h = append(h, first)
	mask := byte(0)
	if masked {
		mask = 0x80
	}
	switch n := len(payload); {
	case n < 126:
		h = append(h, mask|byte(n))
	case n < 1<<16:
		h = append(h, mask|126)
		h = binary.BigEndian.AppendUint16(h, uint16(n))
	default:
		h = append(h, mask|127)
		h = binary.BigEndian.AppendUint64(h, uint64(n))
	}
	body := payload
	if masked {
		key := []byte{0x12, 0x34, 0x56, 0x78}
		h = append(h, key...)
		body = make([]byte, len(payload))
		for i, b := range payload {
			body[i] = b ^ key[i%4]
		}
	}
	_ = r.conn.SetWriteDeadline(time.Now().Add(servertest.Wait))
	if _, err := r.conn.Write(append(h, body...)); err != nil {
		// The server may already have closed on an earlier frame of the same
		// message; the close code tells.
		t.Logf("write: %v", err)
	}
}

// read returns the next server frame.
func (r *rawSocket) read() (first byte, payload []byte, err error) {
	var h [2]byte
	if _, err := io.ReadFull(r.r, h[:]); err != nil {
		return 0, nil, err
	}
	n := int64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(r.r, b[:]); err != nil {
			return 0, nil, err
		}
		n = int64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		if _, err := io.ReadFull(r.r, b[:]); err != nil {
			return 0, nil, err
		}
		n = int64(binary.BigEndian.Uint64(b[:]))
	}
	payload = make([]byte, n)
	_, err = io.ReadFull(r.r, payload)
	return h[0], payload, err
}

// closedBy reads until the server's close frame and returns its code, then
// reads on without answering it and checks the server ends TCP within the
// contract's grace.
func (r *rawSocket) closedBy(t *testing.T) int {
	t.Helper()
	_ = r.conn.SetReadDeadline(time.Now().Add(servertest.Wait))
	code := -1
	for {
		first, payload, err := r.read()
		if err != nil {
			t.Fatalf("no close frame: %v", err)
		}
		if first&0x0f == opClos {
			if len(payload) >= 2 {
				code = int(binary.BigEndian.Uint16(payload))
			}
			break
		}
	}
	r.goneWithin(t, time.Now())
	return code
}

// goneWithin checks that the server ends the TCP connection within
// closeGrace of since, while this client answers nothing.
func (r *rawSocket) goneWithin(t *testing.T, since time.Time) {
	t.Helper()
	_ = r.conn.SetReadDeadline(since.Add(servertest.Wait))
	_, err := io.Copy(io.Discard, r.r)
	took := time.Since(since)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("TCP connection still open %v after the close", servertest.Wait)
	}
	if took > closeGrace {
		t.Errorf("TCP connection ended %v after the close, want within %v", took.Round(time.Millisecond), closeGrace)
	}
}

// TestFramesThatCloseTheConnection: the frames API Gateway closes a
// connection for, each with its close code, and the TCP connection ends
// within 2 s of the close although the client never answers it.
func TestFramesThatCloseTheConnection(t *testing.T) {
	t.Parallel()
	s := shared(t)
	u := s.user(t, "framecloser")
	sendpost := func(text string) []byte {
		return fmt.Appendf(nil, `{"action":"sendpost","requestId":"r","text":"%s"}`, text)
	}
	fragments := func(r *rawSocket, t *testing.T, msg []byte, size int) {
		for i := 0; i < len(msg); i += size {
			op := byte(opCont)
			if i == 0 {
				op = opText
			}
			end := min(i+size, len(msg))
			if end == len(msg) {
				op |= finBit
			}
			r.write(t, op, msg[i:end], true)
		}
	}
	cases := []struct {
		name string
		send func(*rawSocket, *testing.T)
		code websocket.StatusCode
	}{
		{"binary frame", func(r *rawSocket, t *testing.T) { r.write(t, finBit|opBin, sendpost("binary"), true) }, websocket.StatusUnsupportedData},
		{"binary continuation of a text message", func(r *rawSocket, t *testing.T) {
			r.write(t, opText, []byte(`{"action":`), true)
			r.write(t, finBit|opBin, []byte(`"ping"}`), true)
		}, websocket.StatusUnsupportedData},
		{"frame of 33 KiB", func(r *rawSocket, t *testing.T) {
			r.write(t, finBit|opText, sendpost(strings.Repeat("a", 33<<10)), true)
		}, websocket.StatusMessageTooBig},
		{"frame of 32 KiB + 1 in a message", func(r *rawSocket, t *testing.T) {
			r.write(t, opText, []byte(`{"action":"ping","pad":"`), true)
			r.write(t, finBit|opCont, []byte(strings.Repeat("p", 32<<10+1)), true)
		}, websocket.StatusMessageTooBig},
		{"message of 129 KiB in 26 KiB fragments", func(r *rawSocket, t *testing.T) {
			fragments(r, t, sendpost(strings.Repeat("b", 129<<10)), 26<<10)
		}, websocket.StatusMessageTooBig},
		{"invalid UTF-8", func(r *rawSocket, t *testing.T) { r.write(t, finBit|opText, sendpost("marker-utf8 \xff\xfe"), true) }, websocket.StatusInvalidFramePayloadData},
		{"invalid UTF-8 split over fragments", func(r *rawSocket, t *testing.T) {
			// A valid two-byte sequence cut in the middle is fine; a lone
			// continuation byte at the end is not.
			msg := sendpost("marker-utf8-split é\x80")
			cut := strings.Index(string(msg), "é") + 1
			r.write(t, opText, msg[:cut], true)
			r.write(t, finBit|opCont, msg[cut:], true)
		}, websocket.StatusInvalidFramePayloadData},
		{"unmasked frame", func(r *rawSocket, t *testing.T) { r.write(t, finBit|opText, []byte(`{"action":"ping"}`), false) }, websocket.StatusProtocolError},
		{"reserved bit", func(r *rawSocket, t *testing.T) { r.write(t, finBit|rsv1|opText, []byte(`{"action":"ping"}`), true) }, websocket.StatusProtocolError},
		{"continuation without a message", func(r *rawSocket, t *testing.T) { r.write(t, finBit|opCont, []byte(`{"action":"ping"}`), true) }, websocket.StatusProtocolError},
		{"text frame inside a message", func(r *rawSocket, t *testing.T) {
			r.write(t, opText, []byte(`{"action":`), true)
			r.write(t, finBit|opText, []byte(`{"action":"ping"}`), true)
		}, websocket.StatusProtocolError},
		{"ping of 126 bytes", func(r *rawSocket, t *testing.T) { r.write(t, finBit|opPing, make([]byte, 126), true) }, websocket.StatusProtocolError},
		{"fragmented ping", func(r *rawSocket, t *testing.T) { r.write(t, opPing, []byte("p"), true) }, websocket.StatusProtocolError},
		{"unknown opcode", func(r *rawSocket, t *testing.T) { r.write(t, finBit|0x3, []byte("x"), true) }, websocket.StatusProtocolError},
	}
	t.Run("frames", func(t *testing.T) {
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				t.Parallel()
				r := dialRaw(t, s, u.Tokens.AccessToken)
				c.send(r, t)
				if code := r.closedBy(t); code != int(c.code) {
					t.Errorf("close code %d, want %d", code, c.code)
				}
			})
		}
		t.Run("client close never answered back", func(t *testing.T) {
			t.Parallel()
			// The client closes, then neither reads the answer nor closes TCP.
			r := dialRaw(t, s, u.Tokens.AccessToken)
			r.write(t, finBit|opClos, binary.BigEndian.AppendUint16(nil, 1000), true)
			r.goneWithin(t, time.Now())
		})
	})
	// Every one of those frames was refused whole: none was stored.
	posts, err := servertest.AllPosts(context.Background(), s.Base, u.Tokens.AccessToken, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range posts {
		if p.Author == u.Name {
			t.Errorf("a refused frame was stored: %+v", p)
		}
	}
}

// TestFragmentedMessagesUnderTheLimitsAreRouted: fragments under 32 KiB that
// add up to less than 128 KiB are one message, routed by its action.
func TestFragmentedMessagesUnderTheLimitsAreRouted(t *testing.T) {
	t.Parallel()
	s := shared(t)
	u := s.user(t, "fragmenter")
	r := dialRaw(t, s, u.Tokens.AccessToken)
	send := func(msg []byte, size int) {
		for i := 0; i < len(msg); i += size {
			op := byte(opCont)
			if i == 0 {
				op = opText
			}
			end := min(i+size, len(msg))
			if end == len(msg) {
				op |= finBit
			}
			r.write(t, op, msg[i:end], true)
		}
	}
	next := func() map[string]any {
		t.Helper()
		_ = r.conn.SetReadDeadline(time.Now().Add(servertest.Wait))
		first, payload, err := r.read()
		if err != nil || first&0x0f != opText {
			t.Fatalf("want a text frame, got opcode %x: %v %q", first&0x0f, err, payload)
		}
		var f map[string]any
		if err := json.Unmarshal(payload, &f); err != nil {
			t.Fatal(err)
		}
		return f
	}
	// 100 KiB in 30 KiB fragments: routed to sendpost, whose text is too long.
	// (Other tests share the server: their posts' broadcasts are skipped.)
	send(fmt.Appendf(nil, `{"action":"sendpost","requestId":"big","text":"%s"}`, strings.Repeat("c", 100<<10)), 30<<10)
	f := next()
	for f["type"] == wall.FramePost || f["type"] == wall.FrameDeleted || f["type"] == wall.FrameCounts {
		f = next()
	}
	if f["type"] != wall.FrameError || f["requestId"] != "big" || f["code"] != wall.EINVALID {
		t.Errorf("answer to 100 KiB in fragments: %v, want error invalid for big", f)
	}
	// A short post in three fragments is stored.
	send([]byte(`{"action":"sendpost","requestId":"small","text":"in three parts"}`), 20)
	for {
		f := next()
		if f["type"] == wall.FrameAck {
			if f["requestId"] != "small" {
				t.Errorf("ack %v, want for small", f)
			}
			break
		}
	}
	send([]byte(`{"action":"ping"}`), 5)
	for f := next(); f["type"] != wall.FramePong; f = next() {
	}
}

// TestFramesAnsweredWithAnError: frames that are not a valid action are
// answered with an error frame and the connection stays open; none stores a
// post.
func TestFramesAnsweredWithAnError(t *testing.T) {
	t.Parallel()
	s := shared(t)
	u := s.user(t, "frameerrors")
	sock := u.Dial()
	long := strings.Repeat("r", wall.MaxRequestIDLength+1)
	cases := map[string]struct {
		frame     string
		requestID string // the answer's
		code      string
	}{
		// Route selection is case-sensitive, as API Gateway's: these go to
		// $default, which knows no action.
		"ACTION key":       {`{"ACTION":"sendpost","requestId":"case-key","text":"case key"}`, "case-key", wall.EINVALID},
		"Action key":       {`{"Action":"sendpost","requestId":"case-key2","text":"case key"}`, "case-key2", wall.EINVALID},
		"SENDPOST":         {`{"action":"SENDPOST","requestId":"case-value","text":"case value"}`, "case-value", wall.EINVALID},
		"unknown action":   {`{"action":"sendposts","requestId":"unknown","text":"x"}`, "unknown", wall.EINVALID},
		"$default action":  {`{"action":"$default","requestId":"dollar","text":"x"}`, "dollar", wall.EINVALID},
		"$connect action":  {`{"action":"$connect","requestId":"connect"}`, "connect", wall.EINVALID},
		"action a number":  {`{"action":5,"requestId":"number"}`, "number", wall.EINVALID},
		"no action":        {`{"requestId":"none","text":"x"}`, "none", wall.EINVALID},
		"requestId of 65":  {`{"action":"sendpost","requestId":"` + long + `","text":"long id"}`, long, wall.EINVALID},
		"empty requestId":  {`{"action":"sendpost","requestId":"","text":"empty id"}`, "", wall.EINVALID},
		"zero-width text":  {`{"action":"sendpost","requestId":"zw","text":"\u200b\u200b\u200b"}`, "zw", wall.EINVALID},
		"BOM text":         {`{"action":"sendpost","requestId":"bom","text":"\ufeff"}`, "bom", wall.EINVALID},
		"NUL text":         {`{"action":"sendpost","requestId":"nul","text":"\u0000"}`, "nul", wall.EINVALID},
		"NUL inside":       {`{"action":"sendpost","requestId":"nul2","text":"a\u0000b"}`, "nul2", wall.EINVALID},
		"invisible mix":    {`{"action":"sendpost","requestId":"mix","text":" \u200b\ufeff\u2060\u200d\n\t "}`, "mix", wall.EINVALID},
		"escape character": {`{"action":"sendpost","requestId":"esc","text":"\u001b[2J"}`, "esc", wall.EINVALID},
		"501 code points":  {`{"action":"sendpost","requestId":"501","text":"` + strings.Repeat("é", wall.MaxTextLength+1) + `"}`, "501", wall.EINVALID},
		"501 emoji":        {`{"action":"sendpost","requestId":"501e","text":"` + strings.Repeat("\U0001F600", wall.MaxTextLength+1) + `"}`, "501e", wall.EINVALID},
		"no text":          {`{"action":"sendpost","requestId":"notext"}`, "notext", wall.EINVALID},
		"text a number":    {`{"action":"sendpost","requestId":"numtext","text":5}`, "numtext", wall.EINVALID},
		// JSON's escape of half a surrogate pair is no character: decoding
		// turns it into U+FFFD, which the client never sent.
		"lone surrogate":  {`{"action":"sendpost","requestId":"surrogate","text":"\ud800"}`, "surrogate", wall.EINVALID},
		"delete bad id":   {`{"action":"deletepost","requestId":"badid","id":"../../etc"}`, "badid", wall.EINVALID},
		"delete no post":  {`{"action":"deletepost","requestId":"absent","id":"` + wall.MinIDAt(time.Now()) + `"}`, "absent", wall.ENOTFOUND},
		"reauth no token": {`{"action":"reauth","requestId":"reauth-empty","token":""}`, "reauth-empty", wall.EINVALID},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			f := reply(t, sock, c.frame, c.requestID)
			if f.Type != wall.FrameError || f.Code != c.code || f.Message == "" {
				t.Errorf("answer %s, want an error %q", f.Raw, c.code)
			}
		})
	}
	// Frames without a requestId the answer could carry.
	for _, frame := range []string{"not json", `[]`, `"sendpost"`, `{"action":"sendpost"`, `null`, ``} {
		t.Run(fmt.Sprintf("%q", frame), func(t *testing.T) {
			f := reply(t, sock, frame, "")
			if f.Type != wall.FrameError || f.Code != wall.EINVALID {
				t.Errorf("answer %s, want an error invalid", f.Raw)
			}
		})
	}
	stillOpen(t, sock)
	// The limits themselves are allowed.
	if f := reply(t, sock, map[string]string{"action": wall.ActionSendPost, "requestId": strings.Repeat("k", wall.MaxRequestIDLength), "text": strings.Repeat("é", wall.MaxTextLength)}, strings.Repeat("k", wall.MaxRequestIDLength)); f.Type != wall.FrameAck {
		t.Errorf("500 code points with a requestId of 64: %s, want an ack", f.Raw)
	}
	posts, err := servertest.AllPosts(context.Background(), s.Base, u.Tokens.AccessToken, "")
	if err != nil {
		t.Fatal(err)
	}
	mine := 0
	for _, p := range posts {
		if p.Author == u.Name {
			mine++
		}
	}
	if mine != 1 {
		t.Errorf("%d posts stored, want only the one at the limits", mine)
	}
}

// TestClientCannotSpeakForOthers: what a client says about authors and ids
// is ignored; it cannot delete another's post, nor take or forge a token on
// reauth.
func TestClientCannotSpeakForOthers(t *testing.T) {
	t.Parallel()
	s := shared(t)
	alice, mallory := s.user(t, "alice"), s.user(t, "mallory2")
	as, ms := alice.Dial(), mallory.Dial()

	spoofID := wall.MinIDAt(time.Now().Add(time.Hour))
	f := reply(t, ms, map[string]any{
		"action": wall.ActionSendPost, "requestId": "spoof", "text": "who am I",
		"author": alice.Name, "id": spoofID, "createdAt": "2001-01-01T00:00:00.000Z",
		"authorSub": claimsOf(t, alice.Tokens.AccessToken)["sub"], "username": alice.Name,
		"replyCount": 99, "likeCount": 99, "name": alice.Name,
	}, "spoof")
	if f.Type != wall.FrameAck {
		t.Fatalf("answer %s, want an ack", f.Raw)
	}
	p := f.Post
	if p.Author != mallory.Name || p.ID == spoofID || !wall.ValidID(p.ID) || time.Since(p.CreatedAt) > time.Minute || p.ReplyCount != 0 || p.LikeCount != 0 {
		t.Errorf("stored post %+v: the client's author, id, date or counts were taken", p)
	}

	victim := reply(t, as, map[string]string{"action": wall.ActionSendPost, "requestId": "victim", "text": "alice's"}, "victim").Post
	if f := reply(t, ms, map[string]string{"action": wall.ActionDeletePost, "requestId": "steal", "id": victim.ID}, "steal"); f.Type != wall.FrameError || f.Code != wall.EFORBIDDEN {
		t.Errorf("deletepost of another's post: %s, want error forbidden", f.Raw)
	}
	forged := badTokens(t, s, mallory.Tokens.AccessToken, foreignAccessToken(t))
	for name, c := range map[string]struct {
		token, code string
	}{
		"another user's token": {alice.Tokens.AccessToken, wall.EFORBIDDEN},
		"forged token":         {forged["payload changed"], wall.EUNAUTHORIZED},
		"alg none":             {forged["alg none"], wall.EUNAUTHORIZED},
		"expired":              {forged["expired"], wall.EUNAUTHORIZED},
		"foreign":              {forged["foreign server"], wall.EUNAUTHORIZED},
		"id token":             {mallory.Tokens.IDToken, wall.EUNAUTHORIZED},
	} {
		t.Run("reauth with "+name, func(t *testing.T) {
			f := reply(t, ms, map[string]string{"action": wall.ActionReauth, "requestId": "re-" + name, "token": c.token}, "re-"+name)
			if f.Type != wall.FrameError || f.Code != c.code {
				t.Errorf("answer %s, want error %q", f.Raw, c.code)
			}
		})
	}
	stillOpen(t, ms)
	// alice's post is still there.
	status, page := servertest.GetPosts(t, s.Base, alice.Tokens.AccessToken, "limit=1&after="+wall.MinIDAt(victim.CreatedAt.Add(-time.Millisecond)))
	if status != http.StatusOK || len(page.Posts) == 0 || page.Posts[0].ID != victim.ID {
		t.Errorf("alice's post after mallory's delete: %d %+v", status, page.Posts)
	}
	if f := reply(t, as, map[string]string{"action": wall.ActionDeletePost, "requestId": "own", "id": victim.ID}, "own"); f.Type != wall.FrameAck {
		t.Errorf("alice deleting her own post: %s, want an ack", f.Raw)
	}
	s.notLogged(t, alice.Tokens.AccessToken, mallory.Tokens.AccessToken)
}
