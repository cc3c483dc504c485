package wall

import (
	"context"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The use cases of section 8: profiles, uploads and images.

func unavailablePeople() error { return Errorf(EINTERNAL, "Profiles and images are not available.") }

func (s *Service) peopleReady() error {
	if s.Profiles == nil || s.Users == nil {
		return unavailablePeople()
	}
	return nil
}

func (s *Service) mediaReady() error {
	if s.Uploads == nil || s.Media == nil {
		return unavailablePeople()
	}
	return nil
}

// GetUser returns the user with the username name; ENOTFOUND when there is none.
func (s *Service) GetUser(ctx context.Context, name string) (User, error) {
	users, err := s.GetUsers(ctx, []string{name})
	if err != nil {
		return User{}, err
	}
	if len(users) == 0 {
		return User{}, Errorf(ENOTFOUND, "There is no such user.")
	}
	return users[0], nil
}

// ParseUsernames reads the names parameter of GET /users: comma-separated,
// 1 to MaxUsersPerLookup. Names that cannot be usernames are left out (they
// name nobody); repeats count once.
func ParseUsernames(names string) ([]string, error) {
	if names == "" {
		return nil, Errorf(EINVALID, "names must list 1 to %d usernames, separated by commas.", MaxUsersPerLookup)
	}
	parts := strings.Split(names, ",")
	if len(parts) > MaxUsersPerLookup {
		return nil, Errorf(EINVALID, "names lists %d usernames; the limit is %d.", len(parts), MaxUsersPerLookup)
	}
	seen := map[string]bool{}
	var out []string
	for _, p := range parts {
		if n := NormalizeUsername(strings.TrimSpace(p)); n != "" && !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out, nil
}

// GetUsers returns those of the users named that exist, in the order named:
// one directory lookup and one profile read for the lot, so a page of posts
// costs one call however many authors it has.
func (s *Service) GetUsers(ctx context.Context, names []string) ([]User, error) {
	if err := s.peopleReady(); err != nil {
		return nil, err
	}
	if len(names) > MaxUsersPerLookup {
		return nil, Errorf(EINVALID, "At most %d users at a time.", MaxUsersPerLookup)
	}
	var valid []string
	for _, n := range names {
		if n = NormalizeUsername(n); n != "" {
			valid = append(valid, n)
		}
	}
	users := []User{}
	if len(valid) == 0 {
		return users, nil
	}
	members, err := s.Users.LookupUsers(ctx, valid)
	if err != nil {
		return nil, err
	}
	subs := make([]string, len(members))
	for i, m := range members {
		subs[i] = m.Sub
	}
	profiles, err := s.Profiles.Profiles(ctx, subs)
	if err != nil {
		return nil, err
	}
	for _, m := range members {
		users = append(users, userOf(m, profiles[m.Sub]))
	}
	return users, nil
}

func userOf(m Member, p Profile) User {
	return User{Username: m.Username, DisplayName: p.DisplayName, Bio: p.Bio, Avatar: p.Avatar.URL,
		JoinedAt: m.JoinedAt, PostCount: p.PostCount}
}

// member finds the user who is who, for their own profile.
func (s *Service) member(ctx context.Context, who Identity) (Member, error) {
	members, err := s.Users.LookupUsers(ctx, []string{strings.ToLower(who.Username)})
	if err != nil {
		return Member{}, err
	}
	for _, m := range members {
		if m.Sub == who.Sub {
			return m, nil
		}
	}
	return Member{}, Errorf(EUNAUTHORIZED, "Your account no longer exists.")
}

// UpdateProfile applies c to who's profile and returns who as they are now.
// Every field is checked before anything changes; an avatar is an upload of
// who's, made square; the avatar it replaces is deleted.
func (s *Service) UpdateProfile(ctx context.Context, who Identity, c ProfileChange) (User, error) {
	if who.Sub == "" || who.Username == "" {
		return User{}, Errorf(EUNAUTHORIZED, "Sign in to edit your profile.")
	}
	if err := s.peopleReady(); err != nil {
		return User{}, err
	}
	var name, bio string
	var err error
	if c.DisplayName != nil {
		if name, err = NormalizeProfileText("displayName", *c.DisplayName, MaxDisplayNameLength, false); err != nil {
			return User{}, err
		}
	}
	if c.Bio != nil {
		if bio, err = NormalizeProfileText("bio", *c.Bio, MaxBioLength, true); err != nil {
			return User{}, err
		}
	}
	if c.Avatar != nil && *c.Avatar != "" && !ValidID(*c.Avatar) {
		return User{}, Errorf(EINVALID, "avatar must be an upload id, or empty to remove it.")
	}
	m, err := s.member(ctx, who)
	if err != nil {
		return User{}, err
	}
	profiles, err := s.Profiles.Profiles(ctx, []string{who.Sub})
	if err != nil {
		return User{}, err
	}
	p := profiles[who.Sub]
	p.Sub, p.Username = who.Sub, m.Username
	if c.DisplayName != nil {
		p.DisplayName = name
	}
	if c.Bio != nil {
		p.Bio = bio
	}
	if c.Avatar != nil {
		if *c.Avatar == "" {
			p.Avatar = Image{}
		} else {
			u, err := s.readyUpload(ctx, who, *c.Avatar, "avatar\x00"+who.Sub+"\x00"+*c.Avatar)
			if err != nil {
				return User{}, err
			}
			if p.Avatar, err = s.Media.Avatar(ctx, u); err != nil {
				return User{}, err
			}
			// The full-size picture served no one: only the square is shown.
			_ = s.Media.Delete(ctx, []string{u.Image.Key})
		}
	}
	previous, err := s.Profiles.SaveProfile(ctx, p)
	if err != nil {
		return User{}, err
	}
	if old := previous.Avatar.Key; old != "" && old != p.Avatar.Key {
		_ = s.Media.Delete(ctx, []string{old}) // an orphan costs storage only
	}
	// The count may have moved since the read: the save answers it as stored.
	p.PostCount = previous.PostCount
	return userOf(m, p), nil
}

// ListUserPosts returns one page of the posts and replies of the user name,
// newest first, with Liked for who; ENOTFOUND when there is no such user.
func (s *Service) ListUserPosts(ctx context.Context, who Identity, name string, q PostQuery) ([]Post, string, error) {
	if err := s.peopleReady(); err != nil {
		return nil, "", err
	}
	if q.After != "" {
		return nil, "", Errorf(EINVALID, "A user's posts page with before only.")
	}
	q, err := q.Validate()
	if err != nil {
		return nil, "", err
	}
	n := NormalizeUsername(name)
	if n == "" {
		return nil, "", Errorf(ENOTFOUND, "There is no such user.")
	}
	members, err := s.Users.LookupUsers(ctx, []string{n})
	if err != nil {
		return nil, "", err
	}
	if len(members) == 0 {
		return nil, "", Errorf(ENOTFOUND, "There is no such user.")
	}
	posts, next, err := s.Profiles.ListUserPosts(ctx, members[0].Sub, q)
	if err != nil {
		return nil, "", err
	}
	if posts == nil {
		posts = []Post{}
	}
	posts, err = s.withLiked(ctx, who, posts)
	return posts, next, err
}

// CreateUpload records a pending upload by who of a file of contentType and
// size bytes and returns it with the form to send it with.
func (s *Service) CreateUpload(ctx context.Context, who Identity, contentType string, size int64) (Upload, string, map[string]string, error) {
	if who.Sub == "" {
		return Upload{}, "", nil, Errorf(EUNAUTHORIZED, "Sign in to upload images.")
	}
	if err := s.mediaReady(); err != nil {
		return Upload{}, "", nil, err
	}
	if !AllowedUploadType(contentType) {
		return Upload{}, "", nil, Errorf(EINVALID, "contentType must be one of %s.", strings.Join(UploadContentTypes, ", "))
	}
	if size < 1 || size > MaxUploadSize {
		return Upload{}, "", nil, Errorf(EINVALID, "size must be 1 to %d bytes (5 MiB).", MaxUploadSize)
	}
	if s.LikeLimiter != nil {
		ok, err := s.LikeLimiter.Allow(ctx, "upload:"+who.Sub)
		if err != nil {
			return Upload{}, "", nil, err
		}
		if !ok {
			return Upload{}, "", nil, Errorf(ERATELIMITED, "You are uploading too fast. Wait a little and try again.")
		}
	}
	now := s.now().UTC()
	u := Upload{ID: s.ids.Next(now), Owner: who.Sub, ContentType: contentType, Size: size, CreatedAt: now, State: UploadPending}
	if err := s.Uploads.PutUpload(ctx, u); err != nil {
		return Upload{}, "", nil, err
	}
	url, fields, err := s.Media.Presign(ctx, u)
	if err != nil {
		return Upload{}, "", nil, err
	}
	return u, url, fields, nil
}

// ProcessUpload cleans the upload stored at the upload bucket's key: the
// handler of the bucket's event. Keys that are no upload's are ignored.
func (s *Service) ProcessUpload(ctx context.Context, key string) (Upload, error) {
	if err := s.mediaReady(); err != nil {
		return Upload{}, err
	}
	id := UploadIDOfKey(key)
	if id == "" {
		return Upload{}, Errorf(ENOTFOUND, "%q is not an upload.", key)
	}
	u, err := s.Uploads.GetUpload(ctx, id)
	if err != nil {
		return Upload{}, err
	}
	if u.State != UploadPending {
		return u, nil
	}
	return s.Media.Process(ctx, u)
}

// readyUpload returns who's upload id, processed and claimed by use. An upload
// still pending (its event not handled yet) is processed here: so a post
// sent right after its upload does not depend on the event's timing.
func (s *Service) readyUpload(ctx context.Context, who Identity, id, use string) (Upload, error) {
	if _, err := s.processedUpload(ctx, who, id, use); err != nil {
		return Upload{}, err
	}
	return s.claimUpload(ctx, who, id, use)
}

// claimUpload marks who's processed upload id used by use; the store checks
// that it is ready, theirs and free, at once.
func (s *Service) claimUpload(ctx context.Context, who Identity, id, use string) (Upload, error) {
	u, err := s.Uploads.ClaimUpload(ctx, id, who.Sub, use)
	if ErrorCode(err) == EINVALID {
		return Upload{}, uploadInvalid(id)
	}
	return u, err
}

func uploadInvalid(id string) error {
	return Errorf(EINVALID, "Upload %s is missing, not yours, already used, or not an image of an allowed type.", id)
}

// processedUpload returns who's upload id once processed, without claiming
// it: EINVALID unless it is a ready image that use may claim.
func (s *Service) processedUpload(ctx context.Context, who Identity, id, use string) (Upload, error) {
	if err := s.mediaReady(); err != nil {
		return Upload{}, err
	}
	invalid := func() error { return uploadInvalid(id) }
	if !ValidID(id) {
		return Upload{}, invalid()
	}
	u, err := s.Uploads.GetUpload(ctx, id)
	if ErrorCode(err) == ENOTFOUND {
		return Upload{}, invalid()
	}
	if err != nil {
		return Upload{}, err
	}
	if u.Owner != who.Sub {
		return Upload{}, invalid()
	}
	if u.State == UploadPending {
		u, err = s.Media.Process(ctx, u)
		if ErrorCode(err) == ENOTFOUND {
			return Upload{}, Errorf(EINVALID, "Upload %s has not been received; send the file first.", id)
		}
		if err != nil {
			return Upload{}, err
		}
	}
	if u.State == UploadRejected {
		return Upload{}, Errorf(EINVALID, "Upload %s is not an image of an allowed type: %s", id, u.Reason)
	}
	if u.State == UploadUsed && u.UsedBy != use {
		return Upload{}, invalid()
	}
	return u, nil
}

func validateImageDrafts(images []ImageDraft) error {
	if len(images) > MaxImagesPerPost {
		return Errorf(EINVALID, "A post has at most %d images.", MaxImagesPerPost)
	}
	seen := map[string]bool{}
	for _, im := range images {
		if !ValidID(im.Upload) {
			return Errorf(EINVALID, "Each image needs the id of an upload.")
		}
		if seen[im.Upload] {
			return Errorf(EINVALID, "Upload %s is in the post twice.", im.Upload)
		}
		seen[im.Upload] = true
		if !utf8.ValidString(im.Alt) {
			return Errorf(EINVALID, "alt must be valid UTF-8.")
		}
		for _, r := range im.Alt {
			if unicode.IsControl(r) && r != '\n' && r != '\t' && r != '\r' {
				return Errorf(EINVALID, "alt must not contain control characters (found U+%04X).", r)
			}
		}
		if n := utf8.RuneCountInString(strings.TrimSpace(im.Alt)); n > MaxAltLength {
			return Errorf(EINVALID, "alt is %d characters long; the limit is %d.", n, MaxAltLength)
		}
	}
	return nil
}

// claimImages claims the uploads of a sendpost (requestKey its idempotency
// key, so a retry claims them again) and returns them as the post's images.
func (s *Service) claimImages(ctx context.Context, who Identity, requestKey string, drafts []ImageDraft) (Images, error) {
	if len(drafts) == 0 {
		return "", nil
	}
	use := "post\x00" + requestKey
	// Every upload is checked before any is claimed, so a post refused for
	// one bad image leaves the good ones free for the next try.
	for _, d := range drafts {
		if _, err := s.processedUpload(ctx, who, d.Upload, use); err != nil {
			return "", err
		}
	}
	images := make([]Image, len(drafts))
	for i, d := range drafts {
		u, err := s.claimUpload(ctx, who, d.Upload, use)
		if err != nil {
			return "", err
		}
		im := u.Image
		im.Alt = strings.TrimSpace(d.Alt)
		images[i] = im
	}
	return ImagesOf(images), nil
}

// deleteImages removes the images of a deleted post and of the replies it
// had (listed before the delete); failures leave orphans, which cost storage
// only, so they do not fail the delete.
func (s *Service) deleteImages(ctx context.Context, posts []Post) {
	if s.Media == nil {
		return
	}
	var keys []string
	for _, p := range posts {
		keys = append(keys, p.Images.Keys()...)
	}
	if len(keys) > 0 {
		_ = s.Media.Delete(ctx, keys)
	}
}

// repliesWithImages lists the replies of the top-level post id that have
// images, so their images can go with the post.
func (s *Service) repliesWithImages(ctx context.Context, who Identity, id string) []Post {
	if s.Conversation == nil || s.Media == nil {
		return nil
	}
	// Only for a delete that will happen, of a post with replies.
	if p, err := s.Conversation.GetPost(ctx, id); err != nil || !p.DeletableBy(who) || p.ReplyCount == 0 {
		return nil
	}
	var out []Post
	q := PostQuery{Limit: MaxPageLimit}
	for range 100 { // a bound: 10,000 replies
		page, next, err := s.Conversation.ListReplies(ctx, id, q)
		if err != nil {
			return out
		}
		for _, p := range page {
			if p.Images != "" {
				out = append(out, p)
			}
		}
		if next == "" {
			return out
		}
		q.After = next
	}
	return out
}
