package wall

import (
	"context"
	"encoding/json"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// People and media: profiles, avatars and images (contract section 8).

// Limits of section 8.
const (
	MaxDisplayNameLength = 50  // code points
	MaxBioLength         = 160 // code points
	MaxAltLength         = 500 // code points
	MaxImagesPerPost     = 4
	MaxUsersPerLookup    = 100
	MaxUploadSize        = 5 << 20 // bytes
	// UploadExpiry is how long a presigned upload form is valid.
	UploadExpiry = 15 * time.Minute
	// UnusedUploadLifetime is how long an upload nobody used is kept: the
	// upload bucket's lifecycle rule and the stores' expiry of the record.
	UnusedUploadLifetime = 24 * time.Hour
)

// UploadContentTypes are the image types that may be uploaded.
var UploadContentTypes = []string{"image/jpeg", "image/png", "image/webp", "image/gif"}

// AllowedUploadType reports whether contentType is one of UploadContentTypes.
func AllowedUploadType(contentType string) bool {
	for _, t := range UploadContentTypes {
		if t == contentType {
			return true
		}
	}
	return false
}

// Member is a user the directory knows.
type Member struct {
	Identity
	JoinedAt time.Time
}

// User is a person as the contract shows them.
type User struct {
	Username    string
	DisplayName string
	Bio         string
	Avatar      string // a URL; "" when none
	JoinedAt    time.Time
	PostCount   int // posts and replies
}

type userJSON struct {
	Username    string `json:"username"`
	DisplayName string `json:"displayName"`
	Bio         string `json:"bio"`
	Avatar      string `json:"avatar"`
	JoinedAt    string `json:"joinedAt"`
	PostCount   int    `json:"postCount"`
}

// MarshalJSON writes the contract's shape.
func (u User) MarshalJSON() ([]byte, error) {
	return mustJSON(userJSON{Username: u.Username, DisplayName: u.DisplayName, Bio: u.Bio, Avatar: u.Avatar,
		JoinedAt: FormatTime(u.JoinedAt), PostCount: max(u.PostCount, 0)}), nil
}

// UnmarshalJSON reads the contract's shape.
func (u *User) UnmarshalJSON(b []byte) error {
	var v userJSON
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	t, err := ParseTime(v.JoinedAt)
	if err != nil {
		return err
	}
	*u = User{Username: v.Username, DisplayName: v.DisplayName, Bio: v.Bio, Avatar: v.Avatar, JoinedAt: t, PostCount: max(v.PostCount, 0)}
	return nil
}

// Profile is what the store keeps of a user, by subject: usernames of deleted
// users can be taken again, and a new holder starts with a new profile.
type Profile struct {
	Sub         string
	Username    string
	DisplayName string
	Bio         string
	Avatar      Image // URL and Key set when the user has an avatar
	// PostCount is kept by the store: one more for each post and reply it
	// stores, one less for each it deletes (a post's replies included).
	PostCount int
}

// ProfileStore keeps profiles and finds a user's posts.
type ProfileStore interface {
	// Profiles returns the profiles of the users with these subjects, keyed
	// by subject; a user who has neither posted nor edited a profile has a
	// zero Profile (absent from the map).
	Profiles(ctx context.Context, subs []string) (map[string]Profile, error)

	// SaveProfile stores p's Username, DisplayName, Bio and Avatar for p.Sub,
	// keeping its PostCount, and returns the profile as it was before.
	SaveProfile(ctx context.Context, p Profile) (previous Profile, err error)

	// ListUserPosts returns one page of the live posts and replies by sub,
	// newest first, older than q.Before, and the next page's cursor ("" at the
	// end). Replies of deleted posts are gone like the posts. q is valid and
	// has no After. Never a scan: an index on the author.
	ListUserPosts(ctx context.Context, sub string, q PostQuery) ([]Post, string, error)
}

// Image is a picture in a post, or an avatar. Its JSON is how Images keeps
// it (keys included); the contract's shape is imageJSON.
type Image struct {
	URL    string `json:"url"`
	Width  int    `json:"width"`
	Height int    `json:"height"`
	Alt    string `json:"alt"`
	// Key is the image's object in the media bucket, for deleting it; never
	// in the contract's JSON.
	Key         string `json:"key,omitempty"`
	ContentType string `json:"type,omitempty"`
}

// Images is a post's images, kept as one string (their JSON, keys included)
// so that posts stay values that compare with ==. Build it with ImagesOf;
// read it with List.
type Images string

// ImagesOf lists images as Images; none is "".
func ImagesOf(images []Image) Images {
	if len(images) == 0 {
		return ""
	}
	return Images(mustJSON(images))
}

// List returns the images; nil when there are none or the text is damaged.
func (m Images) List() []Image {
	if m == "" {
		return nil
	}
	var out []Image
	if json.Unmarshal([]byte(m), &out) != nil {
		return nil
	}
	return out
}

// Keys returns the media objects of the images.
func (m Images) Keys() []string {
	var keys []string
	for _, im := range m.List() {
		if im.Key != "" {
			keys = append(keys, im.Key)
		}
	}
	return keys
}

type imageJSON struct {
	URL    string `json:"url"`
	Width  int    `json:"width"`
	Height int    `json:"height"`
	Alt    string `json:"alt"`
}

// contractJSON is the images as the contract shows them: no keys.
func (m Images) contractJSON() []imageJSON {
	list := m.List()
	if len(list) == 0 {
		return nil
	}
	out := make([]imageJSON, len(list))
	for i, im := range list {
		out[i] = imageJSON{URL: im.URL, Width: im.Width, Height: im.Height, Alt: im.Alt}
	}
	return out
}

func imagesOfJSON(v []imageJSON) Images {
	if len(v) == 0 {
		return ""
	}
	images := make([]Image, len(v))
	for i, im := range v {
		images[i] = Image{URL: im.URL, Width: im.Width, Height: im.Height, Alt: im.Alt}
	}
	return ImagesOf(images)
}

// Upload states.
const (
	UploadPending  = "pending"  // presigned; the bytes may or may not be there
	UploadReady    = "ready"    // processed: Image is set
	UploadRejected = "rejected" // not an allowed image, or too large
	UploadUsed     = "used"     // claimed by a post or an avatar
)

// Upload is one file a user sends to the upload bucket.
type Upload struct {
	ID          string // a ULID
	Owner       string // the uploader's sub
	ContentType string // as declared when presigned
	Size        int64  // as declared
	CreatedAt   time.Time
	State       string
	Image       Image  // when processed: the clean image (its real type)
	Reason      string // why it was rejected
	UsedBy      string // the use that claimed it (ClaimUpload)
}

// UploadKey is the object key of an upload in the upload bucket.
func UploadKey(id string) string { return "uploads/" + id }

// UploadIDOfKey is the upload id of an upload bucket object key; "" when key
// is no upload's.
func UploadIDOfKey(key string) string {
	id, ok := strings.CutPrefix(key, "uploads/")
	if !ok || !ValidID(id) {
		return ""
	}
	return id
}

// UploadStore keeps upload records.
type UploadStore interface {
	// PutUpload stores a new pending upload.
	PutUpload(ctx context.Context, u Upload) error
	// GetUpload returns the upload id; ENOTFOUND when there is none (or it
	// expired unused).
	GetUpload(ctx context.Context, id string) (Upload, error)
	// FinishUpload records the outcome of processing a pending upload
	// (done.State UploadReady with its Image, or UploadRejected with its
	// Reason) and returns the upload as stored. An upload already finished
	// or used is left as it is and returned: processing is idempotent.
	FinishUpload(ctx context.Context, id string, done Upload) (Upload, error)
	// ClaimUpload marks the ready upload id, owned by owner, used by use and
	// returns it. Claiming again with the same use returns it again (a
	// retried request); any other claim of a used upload, of one that is not
	// ready, or of someone else's is EINVALID.
	ClaimUpload(ctx context.Context, id, owner, use string) (Upload, error)
}

// MediaProcessor moves uploads to the media bucket (backend/uploads).
type MediaProcessor interface {
	// Presign returns the URL and form fields with which the client uploads u.
	Presign(ctx context.Context, u Upload) (url string, fields map[string]string, err error)
	// Process cleans the bytes of the pending upload u, stores the image in
	// the media bucket and records the outcome; it returns the upload as
	// stored. Bytes not yet uploaded: ENOTFOUND, and u stays pending.
	Process(ctx context.Context, u Upload) (Upload, error)
	// Avatar stores a square avatar made from the ready upload u's image.
	Avatar(ctx context.Context, u Upload) (Image, error)
	// Delete removes images from the media bucket; absent ones are no error.
	Delete(ctx context.Context, keys []string) error
}

// ImageDraft is one image of a sendpost: an upload and its alt text.
type ImageDraft struct {
	Upload string `json:"upload"`
	Alt    string `json:"alt"`
}

// ProfileChange is a PATCH /api/me: nil fields stay as they are.
type ProfileChange struct {
	DisplayName *string `json:"displayName"`
	Bio         *string `json:"bio"`
	Avatar      *string `json:"avatar"` // an upload id; "" removes the avatar
}

// NormalizeProfileText trims a display name or bio and checks it: valid
// UTF-8, no control characters (a bio may have line breaks), at most limit
// code points.
func NormalizeProfileText(field, text string, limit int, lines bool) (string, error) {
	if !utf8.ValidString(text) {
		return "", Errorf(EINVALID, "%s must be valid UTF-8.", field)
	}
	text = strings.TrimFunc(text, func(r rune) bool { return unicode.IsSpace(r) || unicode.Is(unicode.Cf, r) })
	for _, r := range text {
		if unicode.IsControl(r) && !(lines && (r == '\n' || r == '\r' || r == '\t')) {
			return "", Errorf(EINVALID, "%s must not contain control characters (found U+%04X).", field, r)
		}
	}
	if n := utf8.RuneCountInString(text); n > limit {
		return "", Errorf(EINVALID, "%s is %d characters long; the limit is %d.", field, n, limit)
	}
	return text, nil
}

// NormalizeUsername folds a username from a path or a list for lookup, or
// returns "" when it cannot be one (3 to 32 of a-z 0-9 _ . -).
func NormalizeUsername(name string) string {
	name = strings.ToLower(name)
	if len(name) < 3 || len(name) > 32 {
		return ""
	}
	for i := 0; i < len(name); i++ {
		if !isNameByte(name[i]) {
			return ""
		}
	}
	return name
}
