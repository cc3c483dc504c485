package client

import (
	"strings"
	"testing"
	"time"

	"github.com/postwall/postwall/app/live"
	"github.com/postwall/postwall/backend/wall"
)

// A profile: the user, then 20 posts at a time, newest first; live posts by
// the person go on top (and count), deletions come off; an unknown or
// impossible name is not found.
func TestProfilePagesAndFollowsLive(t *testing.T) {
	ps := newPeopleServer()
	joined := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ps.users["bob"] = wall.User{Username: "bob", DisplayName: "Bob", Bio: "hi", JoinedAt: joined, PostCount: 45}
	base := time.Now().Add(-time.Hour)
	for i := 44; i >= 0; i-- { // newest first
		at := base.Add(time.Duration(i) * time.Second)
		ps.userPosts["bob"] = append(ps.userPosts["bob"], wall.Post{ID: wall.NewID(at), Author: "bob", Text: "p", CreatedAt: at.UTC().Truncate(time.Millisecond)})
	}
	a, _, ctx := startPeople(t, ps)

	a.OpenProfile(ctx, "@Bob")
	got := a.View().Profile
	if got.User == nil || got.User.DisplayName != "Bob" || !got.User.JoinedAt.Equal(joined) || len(got.Posts) != 20 || !got.More {
		t.Fatalf("first page: %+v", got)
	}
	if got.Posts[0].ID != ps.userPosts["bob"][0].ID {
		t.Fatal("not newest first")
	}
	if _, ok := a.View().Users["bob"]; !ok {
		t.Fatal("the profile's user is not in the users shown with posts")
	}
	a.ProfileOlder(ctx)
	a.ProfileOlder(ctx)
	got = a.View().Profile
	if len(got.Posts) != 45 || got.More || got.Error != "" {
		t.Fatalf("after three pages: %d posts, more %v, error %q", len(got.Posts), got.More, got.Error)
	}

	heard := wall.Post{ID: wall.NewID(time.Now()), Author: "bob", Text: "live", CreatedAt: time.Now().UTC().Truncate(time.Millisecond)}
	a.onFrame(frameOf(heard))
	a.onFrame(frameOf(heard)) // heard twice (AWS delivers at least once): counted once
	got = a.View().Profile
	if got.Posts[0].ID != heard.ID || len(got.Posts) != 46 || got.User.PostCount != 46 {
		t.Fatalf("after a live post: %d posts, first %q, count %d", len(got.Posts), got.Posts[0].Text, got.User.PostCount)
	}
	other := wall.Post{ID: wall.NewID(time.Now().Add(time.Second)), Author: "carol", Text: "not bob", CreatedAt: time.Now().UTC()}
	a.onFrame(frameOf(other))
	reply := wall.Post{ID: wall.NewID(time.Now().Add(2 * time.Second)), Author: "bob", Text: "reply", ParentID: other.ID, CreatedAt: time.Now().UTC()}
	a.onFrame(frameOf(reply))
	if got = a.View().Profile; len(got.Posts) != 47 || got.Posts[0].ID != reply.ID {
		t.Fatalf("after carol's post and bob's reply: %d posts", len(got.Posts))
	}
	// carol's post is deleted: bob's reply to it goes too.
	a.onFrame(deletedFrame(other.ID))
	if got = a.View().Profile; len(got.Posts) != 46 || got.User.PostCount != 46 {
		t.Fatalf("after the deletion: %d posts, count %d", len(got.Posts), got.User.PostCount)
	}

	a.OpenProfile(ctx, "nobody")
	if got = a.View().Profile; !got.NotFound || got.User != nil || got.Name != "nobody" {
		t.Fatalf("unknown user: %+v", got)
	}
	a.OpenProfile(ctx, "no way!")
	if got = a.View().Profile; !got.NotFound {
		t.Fatalf("impossible name: %+v", got)
	}
	a.CloseProfile()
	if got = a.View().Profile; got.Name != "" || got.User != nil {
		t.Fatalf("closed: %+v", got)
	}
}

// Edits are checked as the server checks them (code points, not bytes):
// a name over 50 or a bio over 160 is refused here, with its field, and
// nothing is sent; what fits is saved, trimmed, and shown with posts; the
// server's refusal is shown in its words.
func TestSaveProfileValidatesAndShowsTheServersAnswer(t *testing.T) {
	ps := newPeopleServer()
	ps.users["alice"] = wall.User{Username: "alice"}
	a, _, ctx := startPeople(t, ps)

	if err := a.SaveProfile(ctx, strings.Repeat("é", 51), ""); err == nil {
		t.Fatal("a 51-character display name was accepted")
	}
	if f := a.View().ProfileForm; f.Field != FieldDisplayName || !strings.Contains(f.Error, "51") {
		t.Fatalf("form after a long name: %+v", f)
	}
	if err := a.SaveProfile(ctx, "Alice", strings.Repeat("ß", 161)); err == nil {
		t.Fatal("a 161-character bio was accepted")
	}
	if f := a.View().ProfileForm; f.Field != FieldBio {
		t.Fatalf("form after a long bio: %+v", f)
	}
	if err := a.SaveProfile(ctx, "Al\x00ice", ""); err == nil {
		t.Fatal("a control character was accepted")
	}
	if n := len(ps.patches); n != 0 {
		t.Fatalf("%d invalid edits sent", n)
	}

	name, bio := "  "+strings.Repeat("é", 50)+" ", strings.Repeat("ß", 158)+"\n!"
	if err := a.SaveProfile(ctx, name, bio); err != nil {
		t.Fatal(err)
	}
	f := a.View().ProfileForm
	if f.Saved != 1 || f.Error != "" || f.Saving {
		t.Fatalf("form after saving: %+v", f)
	}
	if ps.patches[0]["displayName"] != strings.Repeat("é", 50) || ps.patches[0]["bio"] != bio {
		t.Fatalf("sent %v", ps.patches[0])
	}
	if _, sent := ps.patches[0]["avatar"]; sent {
		t.Fatal("saving the name and bio touched the avatar")
	}
	if u := a.View().Users["alice"]; u.DisplayName != strings.Repeat("é", 50) {
		t.Fatalf("alice shown as %+v", u)
	}

	ps.mu.Lock()
	ps.patchError = &wall.Error{Code: wall.EINVALID, Message: "Display name must not be that."}
	ps.mu.Unlock()
	if err := a.SaveProfile(ctx, "x", ""); err == nil {
		t.Fatal("the server's refusal was not returned")
	}
	if f := a.View().ProfileForm; f.Error != "Display name must not be that." || f.Saved != 1 || f.Saving {
		t.Fatalf("form after the server's refusal: %+v", f)
	}
}

// Reports are for admins: the server's 403 shows as such.
func TestReportsRefusedToNonAdmins(t *testing.T) {
	ps := newPeopleServer()
	a, _, ctx := startPeople(t, ps)
	a.LoadReports(ctx)
	if r := a.View().Reports; !r.Forbidden || r.Loading || len(r.Items) != 0 {
		t.Fatalf("reports for a non-admin: %+v", r)
	}
}

func deletedFrame(id string) live.Frame { return live.Frame{Type: wall.FrameDeleted, ID: id} }
