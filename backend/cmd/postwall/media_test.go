package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"

	"github.com/postwall/postwall/backend/local/server/servertest"
	"github.com/postwall/postwall/backend/wall"
)

// These tests drive the media pipeline and profiles of contract section 8
// through bin/postwall, as the PWA does: presign, POST the form, post the
// image, read it back from its URL.

// uploadForm is the answer of POST /api/uploads.
type uploadForm struct {
	Upload struct {
		ID     string            `json:"id"`
		URL    string            `json:"url"`
		Fields map[string]string `json:"fields"`
	} `json:"upload"`
}

// presign asks for an upload of contentType and size.
func presign(t *testing.T, u *servertest.User, contentType string, size int) uploadForm {
	t.Helper()
	var f uploadForm
	if status := u.Call("POST", "/uploads", map[string]any{"contentType": contentType, "size": size}, &f); status != http.StatusOK {
		t.Fatalf("POST /uploads %s %d: status %d", contentType, size, status)
	}
	if f.Upload.ID == "" || !strings.HasPrefix(f.Upload.URL, "http") || len(f.Upload.Fields) == 0 {
		t.Fatalf("upload form %+v: want an id, an absolute url and fields", f)
	}
	return f
}

// postForm sends file with the form's fields, file last and without any
// Authorization, and returns the status and body.
func postForm(t *testing.T, f uploadForm, filename string, file []byte) (int, string) {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for k, v := range f.Upload.Fields {
		_ = mw.WriteField(k, v)
	}
	part, _ := mw.CreateFormFile("file", filename)
	_, _ = part.Write(file)
	_ = mw.Close()
	resp, err := http.Post(f.Upload.URL, mw.FormDataContentType(), &body)
	if err != nil {
		t.Fatalf("POST %s: %v", f.Upload.URL, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// upload presigns and sends file; it fails the test unless S3 took it.
func upload(t *testing.T, u *servertest.User, contentType, filename string, file []byte) string {
	t.Helper()
	f := presign(t, u, contentType, len(file))
	if status, body := postForm(t, f, filename, file); status/100 != 2 {
		t.Fatalf("upload %s: status %d %s", filename, status, body)
	}
	return f.Upload.ID
}

// sendPost sends a sendpost with images and returns its answer frame.
func sendPost(t *testing.T, s *servertest.Socket, requestID, text string, images ...map[string]any) servertest.Frame {
	t.Helper()
	frame := map[string]any{"action": wall.ActionSendPost, "requestId": requestID, "text": text, "images": images}
	s.Send(frame)
	ctx, cancel := context.WithTimeout(context.Background(), servertest.Wait)
	defer cancel()
	f, err := s.Reply(ctx, requestID)
	if err != nil {
		t.Fatalf("answer to %s: %v", requestID, err)
	}
	return f
}

func testImage(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(x * 7), uint8(y * 5), uint8(x ^ y), 255})
		}
	}
	return img
}

func pngBytes(t *testing.T, w, h int) []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, testImage(w, h)); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// jpegWithGPS is a JPEG whose APP1 segment is an EXIF block with a GPS
// position, written after SOI as cameras do.
func jpegWithGPS(t *testing.T, w, h int) []byte {
	var b bytes.Buffer
	if err := jpeg.Encode(&b, testImage(w, h), &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	// A minimal TIFF: IFD0 with one entry, GPSInfo (0x8825), pointing at a
	// GPS IFD with GPSLatitudeRef "N" and a marker string to look for.
	var tiff bytes.Buffer
	tiff.WriteString("MM\x00\x2a\x00\x00\x00\x08")
	le := binary.BigEndian
	put16 := func(v uint16) { _ = binary.Write(&tiff, le, v) }
	put32 := func(v uint32) { _ = binary.Write(&tiff, le, v) }
	put16(1)                          // IFD0 entries
	put16(0x8825)                     // GPSInfo
	put16(4)                          // LONG
	put32(1)                          //
	put32(26)                         // offset of the GPS IFD
	put32(0)                          // no next IFD
	put16(2)                          // GPS IFD entries
	put16(1)                          // GPSLatitudeRef
	put16(2)                          // ASCII
	put32(2)                          //
	tiff.WriteString("N\x00\x00\x00") //
	put16(0x1b)                       // GPSProcessingMethod
	put16(7)                          // UNDEFINED
	put32(16)                         //
	put32(56)                         // offset of the text
	put32(0)
	tiff.WriteString("GPS-SECRET-51.5N")
	app1 := append([]byte("Exif\x00\x00"), tiff.Bytes()...)
	seg := []byte{0xFF, 0xE1, byte((len(app1) + 2) >> 8), byte(len(app1) + 2)}
	out := append([]byte{}, b.Bytes()[:2]...)
	out = append(out, seg...)
	out = append(out, app1...)
	return append(out, b.Bytes()[2:]...)
}

func get(t *testing.T, url string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func TestUploadPipeline(t *testing.T) {
	srv := startServer(t, buildServer(t), "-addr", "127.0.0.1:0", "-data", t.TempDir())
	alice := servertest.NewUser(t, srv.base, "alice")
	alice.SignUp()
	bob := servertest.NewUser(t, srv.base, "bob")
	bob.SignUp()
	aliceWS, bobWS := alice.Dial(), bob.Dial()

	t.Run("a JPEG with GPS EXIF is served without it, live to others", func(t *testing.T) {
		raw := jpegWithGPS(t, 320, 200)
		if !bytes.Contains(raw, []byte("GPS-SECRET")) {
			t.Fatal("the fixture lost its EXIF")
		}
		id := upload(t, alice, "image/jpeg", "holiday.jpg", raw)
		f := sendPost(t, aliceWS, "img-1", "Look", map[string]any{"upload": id, "alt": "A beach at dusk"})
		if f.Type != wall.FrameAck {
			t.Fatalf("sendpost with an image: %s", f.Raw)
		}
		images := f.Post.Images.List()
		if len(images) != 1 || images[0].Width != 320 || images[0].Height != 200 || images[0].Alt != "A beach at dusk" {
			t.Fatalf("images %+v, want one 320x200 with its alt", images)
		}
		if raw := bobWS.RawContaining(`"id":"` + f.Post.ID + `"`); !strings.Contains(raw, `"images":[{`) {
			t.Fatalf("bob's post frame %s has no images", raw)
		}
		resp, body := get(t, images[0].URL)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/jpeg" ||
			resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Fatalf("GET image: %d %v", resp.StatusCode, resp.Header)
		}
		if bytes.Contains(body, []byte("GPS-SECRET")) || bytes.Contains(body, []byte("Exif\x00")) {
			t.Fatal("the served JPEG still has its EXIF")
		}
		cfg, format, err := image.DecodeConfig(bytes.NewReader(body))
		if err != nil || format != "jpeg" || cfg.Width != 320 || cfg.Height != 200 {
			t.Fatalf("served image %s %dx%d (%v), want a 320x200 jpeg", format, cfg.Width, cfg.Height, err)
		}
		// The post as listed carries the same image.
		_, page := alice.ListPosts("?limit=1")
		if len(page.Posts) != 1 || page.Posts[0].Images.List()[0].URL != images[0].URL {
			t.Fatalf("listed %+v", page.Posts)
		}
		// An upload is used once.
		again := sendPost(t, aliceWS, "img-1-again", "Again", map[string]any{"upload": id, "alt": ""})
		if again.Type != wall.FrameError || again.Code != wall.EINVALID {
			t.Fatalf("reusing an upload: %s", again.Raw)
		}
	})

	t.Run("a PNG named .jpg is stored as the PNG it is", func(t *testing.T) {
		id := upload(t, alice, "image/jpeg", "photo.jpg", pngBytes(t, 40, 30))
		f := sendPost(t, aliceWS, "img-2", "", map[string]any{"upload": id, "alt": "Gradient"})
		if f.Type != wall.FrameAck {
			t.Fatalf("sendpost: %s", f.Raw)
		}
		resp, body := get(t, f.Post.Images.List()[0].URL)
		if ct := resp.Header.Get("Content-Type"); ct != "image/png" || !bytes.HasPrefix(body, []byte("\x89PNG")) {
			t.Fatalf("served as %q, %q...", ct, body[:min(8, len(body))])
		}
		if f.Post.Text != "" {
			t.Fatalf("text %q, want empty (images only)", f.Post.Text)
		}
	})

	t.Run("HTML and SVG are refused", func(t *testing.T) {
		for name, file := range map[string]string{
			"page.png": "<!doctype html><html><script>alert(1)</script></html>",
			"logo.png": `<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`,
		} {
			f := presign(t, alice, "image/png", len(file))
			// S3 takes any bytes; the pipeline refuses them as images.
			if status, body := postForm(t, f, name, []byte(file)); status/100 != 2 {
				t.Fatalf("%s: the form was refused (%d %s); S3 would take it", name, status, body)
			}
			ans := sendPost(t, aliceWS, "bad-"+name, "x", map[string]any{"upload": f.Upload.ID, "alt": ""})
			if ans.Type != wall.FrameError || ans.Code != wall.EINVALID {
				t.Fatalf("%s: %s, want invalid", name, ans.Raw)
			}
		}
		if status := alice.Call("POST", "/uploads", map[string]any{"contentType": "image/svg+xml", "size": 10}, nil); status != http.StatusBadRequest {
			t.Fatalf("presign of SVG: %d, want 400", status)
		}
	})

	t.Run("over 5 MiB or over the declared size is refused", func(t *testing.T) {
		if status := alice.Call("POST", "/uploads", map[string]any{"contentType": "image/png", "size": 6 << 20}, nil); status != http.StatusBadRequest {
			t.Fatalf("presign of 6 MiB: %d, want 400", status)
		}
		f := presign(t, alice, "image/png", 5<<20)
		big := append(pngBytes(t, 8, 8), make([]byte, 6<<20)...)
		if status, _ := postForm(t, f, "big.png", big); status/100 != 4 {
			t.Fatalf("6 MiB file: status %d, want 4xx", status)
		}
		small := presign(t, alice, "image/png", 100)
		if status, _ := postForm(t, small, "more.png", pngBytes(t, 64, 64)); status/100 != 4 {
			t.Fatalf("file over its declared size: status %d, want 4xx", status)
		}
		ans := sendPost(t, aliceWS, "never-sent", "x", map[string]any{"upload": small.Upload.ID, "alt": ""})
		if ans.Type != wall.FrameError || ans.Code != wall.EINVALID {
			t.Fatalf("post of a refused upload: %s", ans.Raw)
		}
	})

	t.Run("someone else's upload is invalid", func(t *testing.T) {
		id := upload(t, alice, "image/png", "a.png", pngBytes(t, 10, 10))
		ans := sendPost(t, bobWS, "steal", "mine", map[string]any{"upload": id, "alt": ""})
		if ans.Type != wall.FrameError || ans.Code != wall.EINVALID {
			t.Fatalf("bob posting alice's upload: %s", ans.Raw)
		}
	})

	t.Run("five images are too many", func(t *testing.T) {
		var images []map[string]any
		for i := range 5 {
			images = append(images, map[string]any{"upload": upload(t, alice, "image/png", fmt.Sprintf("%d.png", i), pngBytes(t, 4, 4)), "alt": ""})
		}
		ans := sendPost(t, aliceWS, "five", "x", images...)
		if ans.Type != wall.FrameError || ans.Code != wall.EINVALID {
			t.Fatalf("five images: %s", ans.Raw)
		}
		ok := sendPost(t, aliceWS, "four", "x", images[:4]...)
		if ok.Type != wall.FrameAck || len(ok.Post.Images.List()) != 4 {
			t.Fatalf("four images: %s", ok.Raw)
		}
		// Deleting the post deletes its images.
		url := ok.Post.Images.List()[0].URL
		aliceWS.Send(map[string]any{"action": wall.ActionDeletePost, "requestId": "del-four", "id": ok.Post.ID})
		ctx, cancel := context.WithTimeout(context.Background(), servertest.Wait)
		defer cancel()
		if f, err := aliceWS.Reply(ctx, "del-four"); err != nil || f.Type != wall.FrameAck {
			t.Fatalf("delete: %+v %v", f, err)
		}
		if resp, _ := get(t, url); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("image of a deleted post: %d, want 404", resp.StatusCode)
		}
	})
}

func TestProfiles(t *testing.T) {
	srv := startServer(t, buildServer(t), "-addr", "127.0.0.1:0", "-data", t.TempDir(), "-post-limit", "1000")
	alice := servertest.NewUser(t, srv.base, "alice")
	alice.SignUp()
	bob := servertest.NewUser(t, srv.base, "bob")
	bob.SignUp()

	type oneUser struct {
		User wall.User `json:"user"`
	}
	var me oneUser
	if status := alice.Call("GET", "/users/alice", nil, &me); status != http.StatusOK ||
		me.User.Username != "alice" || me.User.JoinedAt.IsZero() || me.User.PostCount != 0 {
		t.Fatalf("GET /users/alice: %d %+v", status, me.User)
	}
	if status := alice.Call("GET", "/users/nobody", nil, nil); status != http.StatusNotFound {
		t.Fatalf("GET /users/nobody: %d, want 404", status)
	}

	// Edits are validated: 50 and 160 code points, counted as code points.
	for _, bad := range []map[string]any{
		{"displayName": strings.Repeat("é", 51)},
		{"bio": strings.Repeat("🙂", 161)},
		{"displayName": 7},
		{"avatar": "not-an-upload"},
	} {
		if status := alice.Call("PATCH", "/me", bad, nil); status != http.StatusBadRequest {
			t.Fatalf("PATCH /me %v: %d, want 400", bad, status)
		}
	}
	for _, body := range []string{"null", "[]", `"x"`, ""} {
		req, _ := http.NewRequest("PATCH", srv.base+"/api/me", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+alice.Tokens.AccessToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("PATCH /me with the body %q: %d, want 400", body, resp.StatusCode)
		}
	}
	name, bio := strings.Repeat("é", 50), strings.Repeat("🙂", 160)
	if status := alice.Call("PATCH", "/me", map[string]any{"displayName": name, "bio": bio}, &me); status != http.StatusOK ||
		me.User.DisplayName != name || me.User.Bio != bio {
		t.Fatalf("PATCH /me at the limits: %d %+v", status, me.User)
	}

	// An avatar is made square.
	avatar := upload(t, alice, "image/png", "me.png", pngBytes(t, 300, 200))
	if status := alice.Call("PATCH", "/me", map[string]any{"avatar": avatar}, &me); status != http.StatusOK || me.User.Avatar == "" {
		t.Fatalf("PATCH /me avatar: %d %+v", status, me.User)
	}
	resp, body := get(t, me.User.Avatar)
	cfg, _, err := image.DecodeConfig(bytes.NewReader(body))
	if resp.StatusCode != http.StatusOK || err != nil || cfg.Width != cfg.Height {
		t.Fatalf("avatar %d %dx%d %v, want a square image", resp.StatusCode, cfg.Width, cfg.Height, err)
	}
	if status := alice.Call("PATCH", "/me", map[string]any{"displayName": "Alice"}, &me); status != http.StatusOK ||
		me.User.Bio != bio || me.User.Avatar == "" {
		t.Fatalf("a partial edit changed other fields: %+v", me.User)
	}

	// Posts and replies page by author, newest first; the batch lookup
	// answers those that exist.
	ws := alice.Dial()
	var ids []string
	for i := range 7 {
		f := sendPost(t, ws, fmt.Sprintf("p%d", i), fmt.Sprintf("post %d", i))
		ids = append(ids, f.Post.ID)
	}
	ws.Send(map[string]any{"action": wall.ActionSendPost, "requestId": "r", "text": "a reply", "parentId": ids[0]})
	ctx, cancel := context.WithTimeout(context.Background(), servertest.Wait)
	defer cancel()
	reply, err := ws.Reply(ctx, "r")
	if err != nil || reply.Type != wall.FrameAck {
		t.Fatalf("reply: %+v %v", reply, err)
	}
	ids = append(ids, reply.Post.ID)
	var got []string
	cursor := ""
	for page := 0; page < 5; page++ {
		var p servertest.PostsPage
		q := "?limit=3"
		if cursor != "" {
			q += "&before=" + cursor
		}
		if status := bob.Call("GET", "/users/alice/posts"+q, nil, &p); status != http.StatusOK {
			t.Fatalf("GET /users/alice/posts%s: %d", q, status)
		}
		for _, post := range p.Posts {
			got = append(got, post.ID)
		}
		if cursor = p.Next; cursor == "" {
			break
		}
	}
	if len(got) != len(ids) {
		t.Fatalf("paged %d posts, want %d (posts and the reply)", len(got), len(ids))
	}
	for i := range ids {
		if got[i] != ids[len(ids)-1-i] {
			t.Fatalf("page order %v, want newest first %v", got, ids)
		}
	}
	var list struct {
		Users []wall.User `json:"users"`
	}
	if status := bob.Call("GET", "/users?names=alice,nobody,bob", nil, &list); status != http.StatusOK || len(list.Users) != 2 ||
		list.Users[0].Username != "alice" || list.Users[0].PostCount != 8 || list.Users[0].DisplayName != "Alice" {
		t.Fatalf("GET /users?names=: %d %+v", status, list.Users)
	}
	names := make([]string, 101)
	for i := range names {
		names[i] = fmt.Sprintf("user%d", i)
	}
	if status := bob.Call("GET", "/users?names="+strings.Join(names, ","), nil, nil); status != http.StatusBadRequest {
		t.Fatalf("101 names: %d, want 400", status)
	}
}
