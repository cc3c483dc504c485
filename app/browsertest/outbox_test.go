package browsertest

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestOutbox: a post written while the server is down waits in the outbox,
// survives the wait, and is stored exactly once when the server is back on
// the same address and data.
func TestOutbox(t *testing.T) {
	needBrowser(t)
	srv := startServer(t)
	b := startBrowser(t)
	erin := b.newPage(t, 1280, 800)
	erin.signUp(srv.base, "erin")
	erin.post("before the outage")
	erin.waitJS("the first post", hasPost("before the outage"))

	srv.stop()
	erin.tolerateNetworkErrors(true)
	erin.waitJS("the offline indicator", `!document.querySelector('.pw-status-online')`)

	const text = "written while the server was down"
	erin.post(text)
	erin.waitJS("the post waiting in the outbox", `Array.from(document.querySelectorAll('.pw-pending .pw-text')).some(e => e.textContent === `+jsString(text)+`)`)
	var kept string
	if err := erin.eval(`JSON.stringify(Object.entries(localStorage).filter(([k]) => k.startsWith('postwall.outbox.')))`, &kept); err != nil {
		t.Fatal(err)
	}
	if !jsonContains(kept, text) {
		t.Fatalf("the outbox in localStorage holds %s", kept)
	}

	srv.start()
	erin.waitJS("the post sent after the restart", hasPost(text)+` && !document.querySelector('.pw-pending')`)
	erin.waitJS("live again", `!!document.querySelector('.pw-status-online')`)
	erin.tolerateNetworkErrors(false)
	if n := count(erin.postTexts(), text); n != 1 {
		t.Fatalf("the post is shown %d times", n)
	}
	// The server holds it once too.
	if n := count(serverTexts(t, srv.base, erin.tokens().AccessToken), text); n != 1 {
		t.Fatalf("the server stored the post %d times", n)
	}
	erin.checkClean()
}

func jsonContains(haystack, s string) bool {
	b, _ := json.Marshal(s)
	return len(b) > 2 && strings.Contains(haystack, string(b[1:len(b)-1]))
}

// serverTexts reads the newest page of posts from the REST API.
func serverTexts(t *testing.T, base, token string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/api/posts?limit=100", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 {
		t.Fatalf("GET /api/posts: %d %s", res.StatusCode, body)
	}
	var page struct{ Posts []struct{ Text string } }
	if err := json.Unmarshal(body, &page); err != nil {
		t.Fatal(err)
	}
	var texts []string
	for _, p := range page.Posts {
		texts = append(texts, p.Text)
	}
	return texts
}
