package client

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/postwall/postwall/app/feed"
	"github.com/postwall/postwall/backend/wall"
)

// People: the names and avatars shown with posts, profiles and their
// editing (contract section 8).

// userFreshness is how long a looked-up user is shown before a page that
// has their posts asks for them again (a changed avatar shows by then).
const userFreshness = 5 * time.Minute

// profilePage is how many of a person's posts a profile page reads at once.
const profilePage = 20

// directory caches users by username. Authors not yet known are queued and
// looked up in batches: at most one request is in flight, and the next one
// takes every name queued meanwhile, so a page of posts costs one lookup
// however many authors it has.
type directory struct {
	users  map[string]cachedUser
	queued map[string]bool
	asking map[string]bool // in the lookup in flight
	busy   bool
	shown  map[string]wall.User // what View.Users shares: rebuilt, never changed
}

type cachedUser struct {
	user  wall.User
	found bool // false: the server knows no such user (deleted)
	at    time.Time
}

func newDirectory() *directory {
	return &directory{users: map[string]cachedUser{}, queued: map[string]bool{}, asking: map[string]bool{}, shown: map[string]wall.User{}}
}

// put records users looked up (found) or known to be absent, and rebuilds
// the shown map.
func (d *directory) put(now time.Time, found []wall.User, asked []string) {
	got := map[string]bool{}
	for _, u := range found {
		d.users[u.Username] = cachedUser{user: u, found: true, at: now}
		got[u.Username] = true
	}
	for _, n := range asked {
		if !got[n] {
			d.users[n] = cachedUser{at: now}
		}
	}
	shown := make(map[string]wall.User, len(d.users))
	for n, c := range d.users {
		if c.found {
			shown[n] = c.user
		}
	}
	d.shown = shown
}

// Profile is a person's page: who they are and their posts and replies.
type Profile struct {
	Name     string      // the username asked for
	User     *wall.User  // once read
	Posts    []wall.Post // newest first: posts and replies
	More     bool        // older posts to read
	Loading  bool        // the user or a page is on its way
	Error    string
	NotFound bool
}

// Fields of the profile form, for placing an error.
const (
	FieldDisplayName = "displayName"
	FieldBio         = "bio"
	FieldAvatar      = "avatar"
)

// ProfileForm is the state of the edit-profile form.
type ProfileForm struct {
	Saving bool
	Error  string // what went wrong, the server's words when it said no
	Field  string // the field Error is about, when known
	Saved  int    // grows with each save the server accepted
	// Avatar is the picture being uploaded for the avatar, if any.
	Avatar *Attachment
}

// wantAuthors queues the authors of posts not known (or known too long)
// and starts the lookup if none is running; a.mu is held.
func (a *App) wantAuthors(posts ...wall.Post) {
	d := a.dir
	now := a.deps.Now()
	for _, p := range posts {
		n := p.Author
		if n == "" || d.queued[n] || d.asking[n] {
			continue
		}
		if c, ok := d.users[n]; ok && now.Sub(c.at) < userFreshness {
			continue
		}
		d.queued[n] = true
	}
	if len(d.queued) == 0 || d.busy || a.runCtx == nil {
		return
	}
	d.busy = true
	go a.lookUpUsers(a.runCtx, d)
}

// lookUpUsers looks up the queued names, wall.MaxUsersPerLookup at a time,
// until none is left. A failed lookup stops; the names are asked for again
// with the next page that has them.
func (a *App) lookUpUsers(ctx context.Context, d *directory) {
	for {
		a.mu.Lock()
		names := slices.Sorted(maps.Keys(d.queued))
		if len(names) > wall.MaxUsersPerLookup {
			names = names[:wall.MaxUsersPerLookup]
		}
		if len(names) == 0 || ctx.Err() != nil || a.dir != d {
			d.busy = false
			a.mu.Unlock()
			return
		}
		for _, n := range names {
			delete(d.queued, n)
			d.asking[n] = true
		}
		a.mu.Unlock()

		users, err := a.people.users(ctx, names)

		a.mu.Lock()
		if a.dir != d { // signed out meanwhile
			a.mu.Unlock()
			return
		}
		for _, n := range names {
			delete(d.asking, n)
		}
		if err != nil {
			d.busy = false
			a.mu.Unlock()
			return
		}
		d.put(a.deps.Now(), users, names)
		a.changed()
		a.mu.Unlock()
	}
}

// learnUser records a user read whole (a profile, an edit's answer).
func (a *App) learnUser(u wall.User) {
	a.dir.put(a.deps.Now(), []wall.User{u}, nil)
	if a.profile.User != nil && a.profile.User.Username == u.Username {
		v := u
		a.profile.User = &v
	}
}

// OpenProfile shows the profile of name: the user, then the first page of
// their posts and replies.
func (a *App) OpenProfile(ctx context.Context, name string) {
	name = strings.TrimPrefix(name, "@")
	folded := wall.NormalizeUsername(name)
	a.mu.Lock()
	if folded != "" && a.profile.Name == folded && (a.profile.User != nil || a.profile.Loading) {
		a.mu.Unlock()
		return
	}
	a.profile = Profile{Name: folded, Loading: folded != "", NotFound: folded == ""}
	if folded == "" {
		a.profile.Name = name
	}
	a.changed()
	a.mu.Unlock()
	if folded == "" {
		return
	}

	u, err := a.people.user(ctx, folded)
	var posts []wall.Post
	var next string
	if err == nil {
		var page feed.Page
		page, err = a.people.userPosts(ctx, folded, profilePage, "")
		posts, next = page.Posts, page.Next
	}

	a.mu.Lock()
	defer a.mu.Unlock()
	if a.profile.Name != folded {
		return // another profile was opened meanwhile
	}
	a.profile.Loading = false
	if err != nil {
		a.profileFailed(err, "The profile could not be loaded.")
		a.changed()
		return
	}
	a.learnUser(u)
	a.profile.User = &u
	a.profile.Posts = mergeNewestFirst(a.profile.Posts, posts...)
	a.profile.More = next != ""
	a.profile.Error = ""
	a.changed()
}

func (a *App) profileFailed(err error, fallback string) {
	var we *wall.Error
	if errors.As(err, &we) && we.Code == wall.ENOTFOUND {
		a.profile.NotFound, a.profile.User, a.profile.Posts = true, nil, nil
		return
	}
	a.profile.Error = describe(err, fallback)
}

// ProfileOlder reads the next older page of the open profile's posts.
func (a *App) ProfileOlder(ctx context.Context) {
	a.mu.Lock()
	p := a.profile
	if p.User == nil || p.Loading || !p.More || len(p.Posts) == 0 {
		a.mu.Unlock()
		return
	}
	a.profile.Loading = true
	a.changed()
	before := p.Posts[len(p.Posts)-1].ID
	a.mu.Unlock()

	page, err := a.people.userPosts(ctx, p.Name, profilePage, before)

	a.mu.Lock()
	defer a.mu.Unlock()
	if a.profile.Name != p.Name {
		return
	}
	a.profile.Loading = false
	if err != nil {
		a.profile.Error = describe(err, "Older posts could not be loaded.")
	} else {
		a.profile.Posts = mergeNewestFirst(a.profile.Posts, page.Posts...)
		a.profile.More = page.Next != ""
		a.profile.Error = ""
	}
	a.changed()
}

// CloseProfile forgets the profile (the reader went elsewhere).
func (a *App) CloseProfile() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.profile = Profile{}
	a.changed()
}

// profileMerge follows a post heard live: the open profile's person posted
// (or their post changed); a.mu is held.
func (a *App) profileMerge(p wall.Post) {
	pr := &a.profile
	if pr.User == nil || p.Author != pr.User.Username {
		return
	}
	i := slices.IndexFunc(pr.Posts, func(q wall.Post) bool { return q.ID == p.ID })
	if i < 0 && (len(pr.Posts) == 0 || p.ID < pr.Posts[len(pr.Posts)-1].ID) && pr.More {
		return // older than the pages read: it shows when they get there
	}
	if i < 0 {
		u := *pr.User
		u.PostCount++
		pr.User = &u
	}
	pr.Posts = mergeNewestFirst(pr.Posts, p)
}

// profileDeleted follows a deletion: the post, and a deleted post's replies.
func (a *App) profileDeleted(id string) {
	pr := &a.profile
	if pr.User == nil {
		return
	}
	n := len(pr.Posts)
	pr.Posts = slices.DeleteFunc(pr.Posts, func(p wall.Post) bool { return p.ID == id || p.ParentID == id })
	if gone := n - len(pr.Posts); gone > 0 {
		u := *pr.User
		u.PostCount = max(u.PostCount-gone, 0)
		pr.User = &u
	}
}

func (a *App) profileCounts(id string, replies, likes int) {
	for i := range a.profile.Posts {
		if a.profile.Posts[i].ID == id {
			a.profile.Posts[i].ReplyCount, a.profile.Posts[i].LikeCount = max(replies, 0), max(likes, 0)
		}
	}
}

// mergeNewestFirst adds posts to those held, newest first, one per id.
func mergeNewestFirst(held []wall.Post, add ...wall.Post) []wall.Post {
	for _, p := range add {
		i, found := slices.BinarySearchFunc(held, p.ID, func(q wall.Post, id string) int { return -strings.Compare(q.ID, id) })
		if found {
			held[i] = feed.Newer(held[i], p)
			continue
		}
		held = slices.Insert(held, i, p)
	}
	return held
}

// SaveProfile validates the display name and bio as the server does and
// saves them; the form shows where it went wrong.
func (a *App) SaveProfile(ctx context.Context, displayName, bio string) error {
	name, err := wall.NormalizeProfileText("Display name", displayName, wall.MaxDisplayNameLength, false)
	field := FieldDisplayName
	if err == nil {
		bio, err = wall.NormalizeProfileText("Bio", bio, wall.MaxBioLength, true)
		field = FieldBio
	}
	if err != nil {
		a.mu.Lock()
		a.form.Error, a.form.Field = describe(err, "The profile is not valid."), field
		a.changed()
		a.mu.Unlock()
		return err
	}
	return a.patchMe(ctx, wall.ProfileChange{DisplayName: &name, Bio: &bio}, "")
}

// patchMe sends a profile change and shows its outcome in the form; field is
// where an error belongs when the change is about one field only.
func (a *App) patchMe(ctx context.Context, c wall.ProfileChange, field string) error {
	a.mu.Lock()
	if !a.view.SignedIn {
		a.mu.Unlock()
		return &wall.Error{Code: wall.EUNAUTHORIZED, Message: "Sign in to edit your profile."}
	}
	a.form.Saving, a.form.Error, a.form.Field = true, "", ""
	a.changed()
	a.mu.Unlock()

	u, err := a.people.updateMe(ctx, c)

	a.mu.Lock()
	defer a.mu.Unlock()
	a.form.Saving = false
	if err != nil {
		a.form.Error, a.form.Field = describe(err, "The profile could not be saved."), field
		a.changed()
		return err
	}
	a.form.Saved++
	a.learnUser(u)
	a.changed()
	return nil
}
