package wall

import "encoding/json"

// Frames are the JSON texts that travel over the WebSocket (contract section 5).

// ClientFrame is any frame a client sends; fields not used by its action are
// ignored, and so is anything the client says about authors or ids of new posts.
type ClientFrame struct {
	Action    string `json:"action"`
	RequestID string `json:"requestId"`
	Text      string `json:"text"`
	ID        string `json:"id"`
}

// AckFrame answers the sender once its post is stored.
func AckFrame(requestID string, p Post) []byte {
	return mustJSON(struct {
		Type      string `json:"type"`
		RequestID string `json:"requestId"`
		Post      Post   `json:"post"`
	}{"ack", requestID, p})
}

// PostFrame announces a stored post to every connection.
func PostFrame(p Post) []byte {
	return mustJSON(struct {
		Type string `json:"type"`
		Post Post   `json:"post"`
	}{"post", p})
}

// DeletedFrame announces a deleted post to every connection.
func DeletedFrame(id string) []byte {
	return mustJSON(struct {
		Type string `json:"type"`
		ID   string `json:"id"`
	}{"deleted", id})
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
	}{"error", requestID, ErrorCode(err), ErrorMessage(err)})
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only fixed shapes of strings are marshalled here
	}
	return b
}
