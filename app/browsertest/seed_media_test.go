package browsertest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// Seeding people and pictures through the API, as the app does: for the
// screenshots, which should show avatars and an image post.

// apiCall sends method BASE/api+path with token and body as JSON and decodes
// the answer into out.
func apiCall(t *testing.T, base, token, method, path string, body, out any) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, base+"/api"+path, bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("seeding: %s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("seeding: %s %s: %d %s", method, path, res.StatusCode, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("seeding: %s %s: %v", method, path, err)
		}
	}
}

// seedUpload uploads file (a PNG) and returns its upload id.
func seedUpload(t *testing.T, base, token string, file []byte) string {
	t.Helper()
	var f struct {
		Upload struct {
			ID     string            `json:"id"`
			URL    string            `json:"url"`
			Fields map[string]string `json:"fields"`
		} `json:"upload"`
	}
	apiCall(t, base, token, "POST", "/uploads", map[string]any{"contentType": "image/png", "size": len(file)}, &f)
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for k, v := range f.Upload.Fields {
		_ = mw.WriteField(k, v)
	}
	part, _ := mw.CreateFormFile("file", "picture.png")
	_, _ = part.Write(file)
	_ = mw.Close()
	res, err := http.Post(f.Upload.URL, mw.FormDataContentType(), &body)
	if err != nil {
		t.Fatalf("seeding: upload: %v", err)
	}
	res.Body.Close()
	if res.StatusCode/100 != 2 {
		t.Fatalf("seeding: upload: %d", res.StatusCode)
	}
	return f.Upload.ID
}

// seedProfile gives the user a display name and an avatar.
func seedProfile(t *testing.T, base, token, displayName string, avatar []byte) {
	t.Helper()
	apiCall(t, base, token, "PATCH", "/me", map[string]any{"displayName": displayName, "avatar": seedUpload(t, base, token, avatar)}, nil)
}

// sendImagePost posts text with one image and its alt text.
func sendImagePost(t *testing.T, base, token, text, alt string, file []byte) {
	t.Helper()
	upload := seedUpload(t, base, token, file)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"/ws?token="+token,
		&websocket.DialOptions{HTTPHeader: http.Header{"Origin": {base}}})
	if err != nil {
		t.Fatalf("seeding: %v", err)
	}
	defer c.Close(websocket.StatusNormalClosure, "")
	rid := fmt.Sprintf("seed-image-%d", time.Now().UnixNano())
	frame, _ := json.Marshal(map[string]any{"action": "sendpost", "requestId": rid, "text": text,
		"images": []map[string]string{{"upload": upload, "alt": alt}}})
	if err := c.Write(ctx, websocket.MessageText, frame); err != nil {
		t.Fatalf("seeding: %v", err)
	}
	awaitAck(ctx, t, c, rid)
}

// portrait is a soft two-tone disc on a tint, an avatar stand-in.
func portrait(t *testing.T, bg, fg color.RGBA) []byte {
	const n = 192
	img := image.NewRGBA(image.Rect(0, 0, n, n))
	for y := range n {
		for x := range n {
			c := bg
			dx, dy := float64(x-n/2), float64(y-n/2+8)
			if math.Hypot(dx, dy+40) < 34 || (dy > 10 && math.Hypot(dx, dy-60) < 62) {
				c = fg
			}
			img.Set(x, y, c)
		}
	}
	return encodePNG(t, img)
}

// landscape is a dusk sky over hills, a photo stand-in.
func landscape(t *testing.T) []byte {
	const w, h = 960, 540
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			f := float64(y) / h
			c := color.RGBA{uint8(40 + 200*f), uint8(60 + 90*f), uint8(140 - 60*f), 255}
			hill := 380 + 40*math.Sin(float64(x)/90) + 25*math.Sin(float64(x)/37)
			if float64(y) > hill {
				c = color.RGBA{uint8(30 + 20*math.Sin(float64(x)/50)), 70, 45, 255}
			}
			if math.Hypot(float64(x-700), float64(y-330)) < 48 && float64(y) < hill {
				c = color.RGBA{255, 214, 130, 255}
			}
			img.Set(x, y, c)
		}
	}
	return encodePNG(t, img)
}

func encodePNG(t *testing.T, img image.Image) []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
