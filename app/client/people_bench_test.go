package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/postwall/postwall/app/fetch"
	"github.com/postwall/postwall/app/storage"
	"github.com/postwall/postwall/backend/wall"
)

// usersDoer answers GET /users?names= at once with every name asked for,
// counting the requests.
type usersDoer struct{ requests atomic.Int64 }

func (d *usersDoer) Do(ctx context.Context, r fetch.Request) (fetch.Response, error) {
	d.requests.Add(1)
	u, err := url.Parse(r.URL)
	if err != nil {
		return fetch.Response{}, err
	}
	var users []wall.User
	for _, n := range strings.Split(u.Query().Get("names"), ",") {
		users = append(users, wall.User{Username: n, DisplayName: strings.ToUpper(n), Avatar: "https://media.example/" + n + ".png"})
	}
	b, _ := json.Marshal(map[string]any{"users": users})
	return fetch.Response{Status: 200, Body: b}, nil
}

// BenchmarkFeedPageAuthors is the lookup of a feed page's authors: a page
// of 30 posts by 30 people, then the next page of 30 by 30 others, with 10
// known from the first. It reports the requests per page: one, whatever the
// number of posts.
func BenchmarkFeedPageAuthors(b *testing.B) {
	doer := &usersDoer{}
	page := func(from int) []wall.Post {
		posts := make([]wall.Post, 30)
		for i := range posts {
			posts[i] = wall.Post{ID: wall.NewID(time.Now()), Author: fmt.Sprintf("user%03d", from+i), Text: "hi"}
		}
		return posts
	}
	first, second := page(0), page(20)
	local := storage.NewMemory()
	for b.Loop() {
		a := New(Config{APIURL: "http://api.example/api"}, Deps{HTTP: doer, Local: local, Session: storage.NewMemory()}, nil)
		a.people.api.Token = func(context.Context) (string, error) { return "t", nil }
		a.runCtx = context.Background()
		for _, p := range [][]wall.Post{first, second} {
			a.mu.Lock()
			a.wantAuthors(p...)
			a.mu.Unlock()
			for {
				a.mu.Lock()
				busy := a.dir.busy
				a.mu.Unlock()
				if !busy {
					break
				}
				time.Sleep(10 * time.Microsecond)
			}
		}
		if got := len(a.View().Users); got != 50 {
			b.Fatalf("%d users known, want 50", got)
		}
	}
	b.ReportMetric(float64(doer.requests.Load())/float64(2*b.N), "requests/page")
}
