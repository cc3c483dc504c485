// Package live keeps the WebSocket to the wall open: it connects with the
// access token, keeps the connection alive, reconnects with backoff and with a
// fresh token before the old one expires, and carries the outbox of posts
// waiting to be sent (contract section 5).
package live

import (
	"encoding/json"
	"fmt"

	"github.com/postwall/postwall/backend/wall"
)

// Client frame actions.
const (
	ActionSendPost   = "sendpost"
	ActionDeletePost = "deletepost"
	ActionPing       = "ping"
)

// Server frame types.
const (
	TypeAck     = "ack"
	TypePost    = "post"
	TypeDeleted = "deleted"
	TypePong    = "pong"
	TypeError   = "error"
)

type clientFrame struct {
	Action    string `json:"action"`
	RequestID string `json:"requestId,omitempty"`
	Text      string `json:"text,omitempty"`
	ID        string `json:"id,omitempty"`
}

func encode(f clientFrame) []byte {
	b, err := json.Marshal(f)
	if err != nil {
		panic(err) // strings only: cannot fail
	}
	return b
}

// SendPostFrame asks to store a post.
func SendPostFrame(requestID, text string) []byte {
	return encode(clientFrame{Action: ActionSendPost, RequestID: requestID, Text: text})
}

// DeletePostFrame asks to delete one's own post.
func DeletePostFrame(requestID, id string) []byte {
	return encode(clientFrame{Action: ActionDeletePost, RequestID: requestID, ID: id})
}

// PingFrame keeps the connection from idling out.
func PingFrame() []byte { return encode(clientFrame{Action: ActionPing}) }

// Frame is any frame the server sends.
type Frame struct {
	Type      string     `json:"type"`
	RequestID string     `json:"requestId,omitempty"`
	Post      *wall.Post `json:"post,omitempty"`
	ID        string     `json:"id,omitempty"`
	Code      string     `json:"code,omitempty"`
	Message   string     `json:"message,omitempty"`
}

// ParseFrame reads a server frame.
func ParseFrame(b []byte) (Frame, error) {
	var f Frame
	if err := json.Unmarshal(b, &f); err != nil {
		return Frame{}, fmt.Errorf("reading a server frame: %w", err)
	}
	if (f.Type == TypeAck || f.Type == TypePost) && f.Post == nil {
		return Frame{}, fmt.Errorf("a %q frame without its post", f.Type)
	}
	return f, nil
}

// Err returns an error frame as a *wall.Error.
func (f Frame) Err() error {
	return &wall.Error{Code: f.Code, Message: f.Message}
}
