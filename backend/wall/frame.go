package wall

import "encoding/json"

// Frames are the JSON texts that travel over the WebSocket (contract section 5).
// This file owns their shapes and names: the handlers, the gateway, the CDK
// routes and the PWA all use these.

// Client actions: the values of "action", each a route of the WebSocket API.
const (
	ActionSendPost   = "sendpost"
	ActionDeletePost = "deletepost"
	ActionPing       = "ping"
	ActionReauth     = "reauth"
	ActionLike       = "like"
	ActionUnlike     = "unlike"
)

// Actions lists the routes besides $connect, $disconnect and $default.
var Actions = []string{ActionSendPost, ActionDeletePost, ActionPing, ActionReauth, ActionLike, ActionUnlike, ActionReport}

// Server frame types: the values of "type".
const (
	FrameAck          = "ack"
	FramePost         = "post"
	FrameDeleted      = "deleted"
	FramePong         = "pong"
	FrameError        = "error"
	FrameReauthed     = "reauthed"
	FrameCounts       = "counts"
	FrameNotification = "notification"
)

// ClientFrame is any frame a client sends; fields not used by its action are
// ignored, and so is anything the client says about authors or ids of new posts.
type ClientFrame struct {
	Action    string `json:"action"`
	RequestID string `json:"requestId"`
	Text      string `json:"text"`
	ID        string `json:"id"`
	Token     string `json:"token"`    // reauth only
	ParentID  string `json:"parentId"` // sendpost of a reply only
	Reason    string `json:"reason"`   // report only
	// Images of a sendpost: uploads and their alt texts (section 8).
	Images []ImageDraft `json:"images"`
}

// AckFrame answers the sender once its action is stored: for sendpost and
// deletepost it carries the post (as it was when deleted, for a deletepost).
func AckFrame(requestID string, p Post) []byte {
	return mustJSON(struct {
		Type      string `json:"type"`
		RequestID string `json:"requestId"`
		Post      Post   `json:"post"`
	}{FrameAck, requestID, p})
}

// PlainAckFrame answers an action that concerns no post (report).
func PlainAckFrame(requestID string) []byte {
	return mustJSON(struct {
		Type      string `json:"type"`
		RequestID string `json:"requestId"`
	}{FrameAck, requestID})
}

// ReauthedFrame answers a reauth: the connection now lives until exp (Unix
// seconds) at most, or its maximum age, whichever is first.
func ReauthedFrame(requestID string, exp int64) []byte {
	return mustJSON(struct {
		Type      string `json:"type"`
		RequestID string `json:"requestId"`
		Exp       int64  `json:"exp"`
	}{FrameReauthed, requestID, exp})
}

// PostFrame announces a stored post to every connection.
func PostFrame(p Post) []byte {
	return mustJSON(struct {
		Type string `json:"type"`
		Post Post   `json:"post"`
	}{FramePost, p})
}

// DeletedFrame announces a deleted post to every connection.
func DeletedFrame(id string) []byte {
	return mustJSON(struct {
		Type string `json:"type"`
		ID   string `json:"id"`
	}{FrameDeleted, id})
}

// CountsFrame announces a post's counts to every connection.
func CountsFrame(p Post) []byte {
	return mustJSON(struct {
		Type       string `json:"type"`
		ID         string `json:"id"`
		ReplyCount int    `json:"replyCount"`
		LikeCount  int    `json:"likeCount"`
	}{FrameCounts, p.ID, max(p.ReplyCount, 0), max(p.LikeCount, 0)})
}

// NotificationFrame tells the recipient's connections of a new notification.
func NotificationFrame(n Notification) []byte {
	return mustJSON(struct {
		Type         string       `json:"type"`
		Notification Notification `json:"notification"`
	}{FrameNotification, n})
}

// PongFrame answers a ping.
func PongFrame() []byte { return []byte(`{"type":"pong"}`) }

// ErrorFrame reports err to the sender; the connection stays open.
func ErrorFrame(requestID string, err error) []byte {
	return mustJSON(struct {
		Type      string `json:"type"`
		RequestID string `json:"requestId"`
		Code      string `json:"code"`
		Message   string `json:"message"`
	}{FrameError, requestID, ErrorCode(err), ErrorMessage(err)})
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only fixed shapes of strings are marshalled here
	}
	return b
}
