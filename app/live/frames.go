// Package live keeps the WebSocket to the wall open: it connects with the
// access token, keeps the connection alive, hands it a fresh token before the
// old one expires (reauth), reconnects with backoff, and carries the outbox of
// posts waiting to be sent (contract section 5).
package live

import (
	"encoding/json"
	"fmt"

	"github.com/postwall/postwall/backend/wall"
)

// clientFrame is wall.ClientFrame as the PWA sends it: without the fields
// its action does not use.
type clientFrame struct {
	Action    string `json:"action"`
	RequestID string `json:"requestId,omitempty"`
	Text      string `json:"text,omitempty"`
	ID        string `json:"id,omitempty"`
	Token     string `json:"token,omitempty"`
	ParentID  string `json:"parentId,omitempty"`
	Reason    string `json:"reason,omitempty"`
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
	return encode(clientFrame{Action: wall.ActionSendPost, RequestID: requestID, Text: text})
}

// SendImagesFrame asks to store a post with images; its text, which may be
// empty, is always sent.
func SendImagesFrame(requestID, text string, images []wall.ImageDraft) []byte {
	b, err := json.Marshal(struct {
		Action    string            `json:"action"`
		RequestID string            `json:"requestId"`
		Text      string            `json:"text"`
		Images    []wall.ImageDraft `json:"images"`
	}{wall.ActionSendPost, requestID, text, images})
	if err != nil {
		panic(err) // strings only: cannot fail
	}
	return b
}

// SendReplyFrame asks to store a reply to the post parentID.
func SendReplyFrame(requestID, parentID, text string) []byte {
	return encode(clientFrame{Action: wall.ActionSendPost, RequestID: requestID, Text: text, ParentID: parentID})
}

// LikeFrame likes (or, with like false, unlikes) a post.
func LikeFrame(requestID, id string, like bool) []byte {
	action := wall.ActionUnlike
	if like {
		action = wall.ActionLike
	}
	return encode(clientFrame{Action: action, RequestID: requestID, ID: id})
}

// ReportFrame reports a post to the admins. The reason may be empty, so it
// is always sent.
func ReportFrame(requestID, id, reason string) []byte {
	b, err := json.Marshal(struct {
		Action    string `json:"action"`
		RequestID string `json:"requestId"`
		ID        string `json:"id"`
		Reason    string `json:"reason"`
	}{wall.ActionReport, requestID, id, reason})
	if err != nil {
		panic(err)
	}
	return b
}

// DeletePostFrame asks to delete one's own post.
func DeletePostFrame(requestID, id string) []byte {
	return encode(clientFrame{Action: wall.ActionDeletePost, RequestID: requestID, ID: id})
}

// PingFrame keeps the connection from idling out.
func PingFrame() []byte { return encode(clientFrame{Action: wall.ActionPing}) }

// ReauthFrame hands the open connection a fresh access token, so the server
// keeps it open past the old token's expiry.
func ReauthFrame(requestID, token string) []byte {
	return encode(clientFrame{Action: wall.ActionReauth, RequestID: requestID, Token: token})
}

// Frame is any frame the server sends.
type Frame struct {
	Type      string     `json:"type"`
	RequestID string     `json:"requestId,omitempty"`
	Post      *wall.Post `json:"post,omitempty"`
	ID        string     `json:"id,omitempty"`
	Code      string     `json:"code,omitempty"`
	Message   string     `json:"message,omitempty"`
	Exp       int64      `json:"exp,omitempty"` // reauthed: the connection's new deadline, Unix seconds
	// counts: the post's counts as they are now.
	ReplyCount int `json:"replyCount,omitempty"`
	LikeCount  int `json:"likeCount,omitempty"`
	// notification: a new notification for this user.
	Notification *wall.Notification `json:"notification,omitempty"`
}

// ParseFrame reads a server frame.
func ParseFrame(b []byte) (Frame, error) {
	var f Frame
	if err := json.Unmarshal(b, &f); err != nil {
		return Frame{}, fmt.Errorf("reading a server frame: %w", err)
	}
	// An ack may carry no post (the contract's plain ack, for actions about
	// no post); a broadcast always does.
	if f.Type == wall.FramePost && f.Post == nil {
		return Frame{}, fmt.Errorf("a %q frame without its post", f.Type)
	}
	if f.Type == wall.FrameNotification && f.Notification == nil {
		return Frame{}, fmt.Errorf("a %q frame without its notification", f.Type)
	}
	return f, nil
}

// Err returns an error frame as a *wall.Error.
func (f Frame) Err() error {
	return &wall.Error{Code: f.Code, Message: f.Message}
}
