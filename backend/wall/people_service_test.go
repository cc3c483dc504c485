package wall_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/postwall/postwall/backend/wall"
)

// directory is a wall.UserDirectory of fixed members.
type directory map[string]wall.Member

func (d directory) LookupUsers(_ context.Context, names []string) ([]wall.Member, error) {
	var out []wall.Member
	for _, n := range names {
		if m, ok := d[n]; ok {
			out = append(out, m)
		}
	}
	return out, nil
}

// fakeMedia is a wall.MediaProcessor whose "bucket" is a map: uploaded holds
// the bytes clients sent, by upload id; stored the images made.
type fakeMedia struct {
	store wall.UploadStore

	mu       sync.Mutex
	uploaded map[string]string
	stored   map[string]bool
	n        int
}

func (m *fakeMedia) Presign(_ context.Context, u wall.Upload) (string, map[string]string, error) {
	return "https://uploads.example/" + u.ID, map[string]string{"key": wall.UploadKey(u.ID)}, nil
}

func (m *fakeMedia) Process(ctx context.Context, u wall.Upload) (wall.Upload, error) {
	m.mu.Lock()
	body, ok := m.uploaded[u.ID]
	m.mu.Unlock()
	if !ok {
		return u, wall.Errorf(wall.ENOTFOUND, "not received")
	}
	done := wall.Upload{State: wall.UploadRejected, Reason: "not an image"}
	if body == "image" {
		done = wall.Upload{State: wall.UploadReady, Image: m.put("i/", 40, 30)}
	}
	return m.store.FinishUpload(ctx, u.ID, done)
}

func (m *fakeMedia) put(prefix string, w, h int) wall.Image {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.n++
	key := prefix + strings.Repeat("k", m.n)
	m.stored[key] = true
	return wall.Image{URL: "https://media.example/" + key, Width: w, Height: h, Key: key, ContentType: "image/png"}
}

func (m *fakeMedia) Avatar(_ context.Context, u wall.Upload) (wall.Image, error) {
	return m.put("a/", 32, 32), nil
}

func (m *fakeMedia) Delete(_ context.Context, keys []string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, k := range keys {
		delete(m.stored, k)
	}
	return nil
}

func (m *fakeMedia) has(key string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.stored[key]
}

// newPeopleService is newService with profiles, uploads and a fake media
// bucket; alice and bob are members.
func newPeopleService(t *testing.T) (*wall.Service, *fakeMedia) {
	t.Helper()
	s, db, now := newService(t, 0)
	joined := now.Add(-24 * time.Hour).UTC().Truncate(time.Millisecond)
	s.Users = directory{
		"alice": {Identity: alice, JoinedAt: joined},
		"bob":   {Identity: bob, JoinedAt: joined},
	}
	s.Conversation, s.Profiles, s.Uploads = db, db, db
	m := &fakeMedia{store: db, uploaded: map[string]string{}, stored: map[string]bool{}}
	s.Media = m
	return s, m
}

// sent is an upload by who whose bytes arrived: "image" or anything else.
func sent(t *testing.T, s *wall.Service, m *fakeMedia, who wall.Identity, body string) string {
	t.Helper()
	u, url, fields, err := s.CreateUpload(t.Context(), who, "image/png", 1000)
	if err != nil || url == "" || fields["key"] != wall.UploadKey(u.ID) {
		t.Fatalf("create upload: %+v %q %v %v", u, url, fields, err)
	}
	m.mu.Lock()
	m.uploaded[u.ID] = body
	m.mu.Unlock()
	return u.ID
}

func ptr(s string) *string { return &s }

func TestCreateUploadRefusesWhatCannotBeAnImage(t *testing.T) {
	s, _ := newPeopleService(t)
	for _, c := range []struct {
		typ  string
		size int64
	}{{"image/svg+xml", 10}, {"text/html", 10}, {"image/png", 0}, {"image/png", wall.MaxUploadSize + 1}, {"", 10}} {
		if _, _, _, err := s.CreateUpload(t.Context(), alice, c.typ, c.size); wall.ErrorCode(err) != wall.EINVALID {
			t.Errorf("upload of %q, %d bytes: %v, want invalid", c.typ, c.size, err)
		}
	}
	if _, _, _, err := s.CreateUpload(t.Context(), alice, "image/webp", wall.MaxUploadSize); err != nil {
		t.Errorf("5 MiB of WebP: %v", err)
	}
}

func TestImagesAreClaimedOnceByTheirOwner(t *testing.T) {
	s, m := newPeopleService(t)
	ctx := t.Context()
	id := sent(t, s, m, alice, "image")

	if _, err := s.PublishDraft(ctx, bob, wall.Draft{RequestID: "b1", Text: "mine", Images: []wall.ImageDraft{{Upload: id}}}); wall.ErrorCode(err) != wall.EINVALID {
		t.Fatalf("bob posting alice's upload: %v, want invalid", err)
	}
	// Still pending: the sendpost processes it, as the bucket's event would.
	p, err := s.PublishDraft(ctx, alice, wall.Draft{RequestID: "a1", Text: "  ", Images: []wall.ImageDraft{{Upload: id, Alt: " A cat "}}})
	if err != nil {
		t.Fatalf("post of an image with a blank text: %v", err)
	}
	images := p.Images.List()
	if p.Text != "" || len(images) != 1 || images[0].Alt != "A cat" || images[0].Width != 40 {
		t.Fatalf("post %+v images %+v", p, images)
	}
	// A retry of the same request answers the same post; another one cannot use it.
	again, err := s.PublishDraft(ctx, alice, wall.Draft{RequestID: "a1", Text: "  ", Images: []wall.ImageDraft{{Upload: id}}})
	if err != nil || again.ID != p.ID {
		t.Fatalf("retry: %+v %v", again, err)
	}
	if _, err := s.PublishDraft(ctx, alice, wall.Draft{RequestID: "a2", Text: "again", Images: []wall.ImageDraft{{Upload: id}}}); wall.ErrorCode(err) != wall.EINVALID {
		t.Fatalf("second use: %v, want invalid", err)
	}
	bad := sent(t, s, m, alice, "<svg/>")
	if _, err := s.PublishDraft(ctx, alice, wall.Draft{RequestID: "a3", Text: "x", Images: []wall.ImageDraft{{Upload: bad}}}); wall.ErrorCode(err) != wall.EINVALID {
		t.Fatalf("not an image: %v, want invalid", err)
	}
	if _, err := s.PublishDraft(ctx, alice, wall.Draft{RequestID: "a4", Text: "", Images: nil}); wall.ErrorCode(err) != wall.EINVALID {
		t.Fatalf("empty text without images: %v, want invalid", err)
	}
}

func TestImageDraftLimits(t *testing.T) {
	s, m := newPeopleService(t)
	var five []wall.ImageDraft
	for range 5 {
		five = append(five, wall.ImageDraft{Upload: sent(t, s, m, alice, "image")})
	}
	for name, d := range map[string]wall.Draft{
		"five images":  {RequestID: "r1", Text: "x", Images: five},
		"a long alt":   {RequestID: "r2", Text: "x", Images: []wall.ImageDraft{{Upload: five[0].Upload, Alt: strings.Repeat("é", wall.MaxAltLength+1)}}},
		"a repeat":     {RequestID: "r3", Text: "x", Images: []wall.ImageDraft{five[0], five[0]}},
		"no upload id": {RequestID: "r4", Text: "x", Images: []wall.ImageDraft{{Upload: "nope"}}},
	} {
		if _, err := s.PublishDraft(t.Context(), alice, d); wall.ErrorCode(err) != wall.EINVALID {
			t.Errorf("%s: %v, want invalid", name, err)
		}
	}
	// Nothing was claimed by the refused drafts.
	ok := wall.Draft{RequestID: "r5", Text: "x", Images: []wall.ImageDraft{{Upload: five[0].Upload, Alt: strings.Repeat("é", wall.MaxAltLength)}}}
	if _, err := s.PublishDraft(t.Context(), alice, ok); err != nil {
		t.Fatalf("four images at the alt limit: %v", err)
	}
}

func TestDeletingAPostDeletesItsImagesAndItsRepliesImages(t *testing.T) {
	s, m := newPeopleService(t)
	ctx := t.Context()
	root, err := s.PublishDraft(ctx, alice, wall.Draft{RequestID: "r", Text: "root", Images: []wall.ImageDraft{{Upload: sent(t, s, m, alice, "image")}}})
	if err != nil {
		t.Fatal(err)
	}
	reply, err := s.PublishDraft(ctx, bob, wall.Draft{RequestID: "b", Text: "re", ParentID: root.ID, Images: []wall.ImageDraft{{Upload: sent(t, s, m, bob, "image")}}})
	if err != nil {
		t.Fatal(err)
	}
	keys := append(root.Images.Keys(), reply.Images.Keys()...)
	for _, k := range keys {
		if !m.has(k) {
			t.Fatalf("image %s not stored", k)
		}
	}
	if _, err := s.Delete(ctx, bob, "d0", root.ID); wall.ErrorCode(err) != wall.EFORBIDDEN {
		t.Fatalf("bob deleting alice's post: %v", err)
	}
	if !m.has(keys[0]) {
		t.Fatal("a refused delete deleted the image")
	}
	if _, err := s.Delete(ctx, alice, "d1", root.ID); err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if m.has(k) {
			t.Errorf("image %s of a deleted post is still stored", k)
		}
	}
}

func TestUpdateProfile(t *testing.T) {
	s, m := newPeopleService(t)
	ctx := t.Context()
	u, err := s.UpdateProfile(ctx, alice, wall.ProfileChange{DisplayName: ptr(" Alice "), Bio: ptr("Line one\nline two")})
	if err != nil || u.DisplayName != "Alice" || u.Bio != "Line one\nline two" || u.Username != "alice" || u.JoinedAt.IsZero() {
		t.Fatalf("update: %+v %v", u, err)
	}
	for name, c := range map[string]wall.ProfileChange{
		"51 code points":          {DisplayName: ptr(strings.Repeat("ü", 51))},
		"161 code points":         {Bio: ptr(strings.Repeat("🙂", 161))},
		"a line break in a name":  {DisplayName: ptr("a\nb")},
		"a control character":     {Bio: ptr("a\x07b")},
		"not an upload":           {Avatar: ptr("x")},
		"a valid name, a bad bio": {DisplayName: ptr("Changed"), Bio: ptr(strings.Repeat("b", 161))},
	} {
		if _, err := s.UpdateProfile(ctx, alice, c); wall.ErrorCode(err) != wall.EINVALID {
			t.Errorf("%s: %v, want invalid", name, err)
		}
	}
	if users, _ := s.GetUsers(ctx, []string{"alice"}); len(users) != 1 || users[0].DisplayName != "Alice" {
		t.Fatalf("a refused edit changed the profile: %+v", users)
	}
	u, err = s.UpdateProfile(ctx, alice, wall.ProfileChange{DisplayName: ptr(strings.Repeat("ü", 50)), Bio: ptr(strings.Repeat("🙂", 160))})
	if err != nil {
		t.Fatalf("at the limits: %v", err)
	}

	first := sent(t, s, m, alice, "image")
	u, err = s.UpdateProfile(ctx, alice, wall.ProfileChange{Avatar: &first})
	if err != nil || u.Avatar == "" || u.Bio != strings.Repeat("🙂", 160) {
		t.Fatalf("avatar: %+v %v", u, err)
	}
	oldKey := strings.TrimPrefix(u.Avatar, "https://media.example/")
	second := sent(t, s, m, alice, "image")
	if u, err = s.UpdateProfile(ctx, alice, wall.ProfileChange{Avatar: &second}); err != nil || u.Avatar == "" {
		t.Fatalf("second avatar: %+v %v", u, err)
	}
	if m.has(oldKey) {
		t.Error("the replaced avatar is still stored")
	}
	if _, err := s.UpdateProfile(ctx, bob, wall.ProfileChange{Avatar: &first}); wall.ErrorCode(err) != wall.EINVALID {
		t.Errorf("bob using alice's upload as avatar: %v", err)
	}
	if u, err = s.UpdateProfile(ctx, alice, wall.ProfileChange{Avatar: ptr("")}); err != nil || u.Avatar != "" {
		t.Fatalf("removing the avatar: %+v %v", u, err)
	}
}

func TestUsersAndTheirPosts(t *testing.T) {
	s, _ := newPeopleService(t)
	ctx := t.Context()
	if _, err := s.GetUser(ctx, "nobody"); wall.ErrorCode(err) != wall.ENOTFOUND {
		t.Fatalf("nobody: %v", err)
	}
	if _, _, err := s.ListUserPosts(ctx, bob, "nobody", wall.PostQuery{}); wall.ErrorCode(err) != wall.ENOTFOUND {
		t.Fatalf("posts of nobody: %v", err)
	}
	p, err := s.Publish(ctx, alice, "r", "hello")
	if err != nil {
		t.Fatal(err)
	}
	users, err := s.GetUsers(ctx, []string{"ALICE", "nobody", "bob", "no way!"})
	if err != nil || len(users) != 2 || users[0].Username != "alice" || users[0].PostCount != 1 || users[1].PostCount != 0 {
		t.Fatalf("users: %+v %v", users, err)
	}
	posts, next, err := s.ListUserPosts(ctx, bob, "Alice", wall.PostQuery{Limit: 10})
	if err != nil || next != "" || len(posts) != 1 || posts[0].ID != p.ID || posts[0].Liked != wall.LikedNo {
		t.Fatalf("alice's posts: %+v %q %v", posts, next, err)
	}
	if _, _, err := s.ListUserPosts(ctx, bob, "alice", wall.PostQuery{After: p.ID}); wall.ErrorCode(err) != wall.EINVALID {
		t.Fatalf("after: %v, want invalid", err)
	}
	if _, err := wall.ParseUsernames(strings.Repeat("a,", wall.MaxUsersPerLookup) + "a"); wall.ErrorCode(err) != wall.EINVALID {
		t.Fatalf("101 names: %v", err)
	}
}

func TestARefusedPostLeavesItsGoodUploadsFree(t *testing.T) {
	s, m := newPeopleService(t)
	ctx := t.Context()
	good, bad := sent(t, s, m, alice, "image"), sent(t, s, m, alice, "<html>")
	if _, err := s.PublishDraft(ctx, alice, wall.Draft{RequestID: "r1", Text: "two", Images: []wall.ImageDraft{{Upload: good}, {Upload: bad}}}); wall.ErrorCode(err) != wall.EINVALID {
		t.Fatalf("a post with a bad image: %v, want invalid", err)
	}
	if _, err := s.PublishDraft(ctx, alice, wall.Draft{RequestID: "r2", Text: "one", Images: []wall.ImageDraft{{Upload: good}}}); err != nil {
		t.Fatalf("the good image after the refusal: %v", err)
	}
	if _, err := s.PublishDraft(ctx, alice, wall.Draft{RequestID: "r3", Text: "x", Images: []wall.ImageDraft{{Upload: good, Alt: "a\x00b"}}}); wall.ErrorCode(err) != wall.EINVALID {
		t.Fatalf("alt with a NUL: %v, want invalid", err)
	}
}

func TestAnAvatarKeepsOnlyItsSquare(t *testing.T) {
	s, m := newPeopleService(t)
	ctx := t.Context()
	id := sent(t, s, m, alice, "image")
	if _, err := s.UpdateProfile(ctx, alice, wall.ProfileChange{Avatar: &id}); err != nil {
		t.Fatal(err)
	}
	u, err := s.Uploads.GetUpload(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if m.has(u.Image.Key) {
		t.Errorf("the full-size picture %s behind the avatar is still stored", u.Image.Key)
	}
}
