// Package media is the image-processing step of the upload pipeline: it finds
// the real type of uploaded bytes, refuses anything that is not an allowed
// image, and re-encodes what it keeps so that no metadata (EXIF with GPS,
// XMP, ICC profiles, text chunks, comments) reaches the media bucket.
//
// It does no I/O beyond reading the upload; storage is the caller's business.
package media

import (
	"bytes"
	"errors"
	"fmt"
	"image/png"
	"io"

	"github.com/postwall/postwall/backend/wall"
)

// The content types Clean recognises: wall.UploadContentTypes, the
// contract's list, which the presign step checks (a test keeps them equal).
const (
	TypeJPEG = "image/jpeg"
	TypePNG  = "image/png"
	TypeWebP = "image/webp"
	TypeGIF  = "image/gif"
)

const (
	// MaxUploadBytes is the largest upload accepted (contract §8: 5 MiB).
	MaxUploadBytes = wall.MaxUploadSize

	// MaxPixels bounds the decoded size of an image (or of a GIF's logical
	// screen) so a small file cannot claim a huge bitmap.
	MaxPixels = 50_000_000

	// MaxSide is the longest side kept; larger images are downscaled. 2048
	// is sharp on a 2x screen at the feed's width and keeps files small.
	MaxSide = 2048

	// AvatarSide is the side of the square avatar.
	AvatarSide = 256

	// maxFrames and maxFramePixels bound animations: every GIF frame is
	// decoded into memory at once, so both the count and the total area
	// matter.
	maxFrames      = 1000
	maxFramePixels = 100_000_000
)

var (
	// ErrNotImage reports bytes that are not really an image of an allowed
	// type: another format (HTML, SVG, ...), a truncated or corrupt file.
	ErrNotImage = errors.New("media: not an allowed image")
	// ErrTooLarge reports an upload over MaxUploadBytes, or an image whose
	// pixel count (or animation size) is over the limits.
	ErrTooLarge = errors.New("media: image too large")
)

// Image is a cleaned image: its real type, its size in pixels and its bytes.
type Image struct {
	ContentType string
	Width       int
	Height      int
	Bytes       []byte
}

// Clean reads an upload (at most MaxUploadBytes), checks that it really is an
// allowed image, and re-encodes it in the same format without any metadata,
// upright, and no larger than MaxSide on its longest side (except WebP,
// which is rewritten losslessly but not downscaled: there is no WebP encoder
// in Go's standard library or golang.org/x/image).
func Clean(r io.Reader) (Image, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxUploadBytes+1))
	if err != nil {
		return Image{}, fmt.Errorf("media: reading upload: %w", err)
	}
	return CleanBytes(data)
}

// CleanBytes is Clean of bytes already read.
func CleanBytes(data []byte) (Image, error) {
	if len(data) > MaxUploadBytes {
		return Image{}, fmt.Errorf("%w: over %d bytes", ErrTooLarge, MaxUploadBytes)
	}
	switch sniff(data) {
	case TypeJPEG:
		return cleanStill(TypeJPEG, "jpeg", data, writeJPEG)
	case TypePNG:
		return cleanStill(TypePNG, "png", data, png.Encode)
	case TypeGIF:
		return cleanGIF(data)
	case TypeWebP:
		return cleanWebP(data)
	}
	return Image{}, fmt.Errorf("%w: unknown signature", ErrNotImage)
}

// sniff names the format from its magic number only; it returns "" for
// anything else. Names and declared types are never consulted.
func sniff(data []byte) string {
	switch {
	case len(data) >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF:
		return TypeJPEG
	case bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")):
		return TypePNG
	case bytes.HasPrefix(data, []byte("GIF87a")), bytes.HasPrefix(data, []byte("GIF89a")):
		return TypeGIF
	case len(data) >= 12 && string(data[0:4]) == "RIFF" && string(data[8:12]) == "WEBP":
		return TypeWebP
	}
	return ""
}

// checkPixels refuses dimensions that are empty or over MaxPixels, before
// anything the size of the bitmap is allocated.
func checkPixels(w, h int) error {
	if w <= 0 || h <= 0 {
		return fmt.Errorf("%w: empty image %dx%d", ErrNotImage, w, h)
	}
	if int64(w)*int64(h) > MaxPixels {
		return fmt.Errorf("%w: %dx%d is over %d pixels", ErrTooLarge, w, h, MaxPixels)
	}
	return nil
}

// notImage wraps a decoder's error so callers can test for ErrNotImage and
// still see what was wrong.
func notImage(err error) error {
	return fmt.Errorf("%w: %v", ErrNotImage, err)
}

// fitSide returns the size that fits w x h within MaxSide on its longest
// side, keeping the aspect ratio, and whether that differs from w x h.
func fitSide(w, h int) (int, int, bool) {
	if w <= MaxSide && h <= MaxSide {
		return w, h, false
	}
	if w >= h {
		return MaxSide, max(1, int((int64(h)*MaxSide+int64(w)/2)/int64(w))), true
	}
	return max(1, int((int64(w)*MaxSide+int64(h)/2)/int64(h))), MaxSide, true
}
