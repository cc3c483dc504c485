package wall_test

import (
	"testing"

	"github.com/postwall/postwall/backend/wall"
)

func TestAllowedUploadType(t *testing.T) {
	for _, ct := range []string{"image/jpeg", "image/png", "image/webp", "image/gif"} {
		if !wall.AllowedUploadType(ct) {
			t.Errorf("AllowedUploadType(%q) = false", ct)
		}
	}
	for _, ct := range []string{"", "image/svg+xml", "text/html", "image/jpg", "IMAGE/PNG", "image/png; charset=x", "image/bmp"} {
		if wall.AllowedUploadType(ct) {
			t.Errorf("AllowedUploadType(%q) = true", ct)
		}
	}
}
