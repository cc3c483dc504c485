package media

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"runtime"
	"slices"
	"strings"
	"testing"

	"golang.org/x/image/webp"

	"github.com/postwall/postwall/backend/wall"
)

func clean(t *testing.T, data []byte) Image {
	t.Helper()
	img, err := Clean(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("Clean: %v", err)
	}
	return img
}

// assertAbsent fails when any of needles occurs in the cleaned bytes.
func assertAbsent(t *testing.T, b []byte, needles ...string) {
	t.Helper()
	for _, n := range needles {
		if bytes.Contains(b, []byte(n)) {
			t.Errorf("output still contains %q", n)
		}
	}
}

func TestJPEGLosesEXIFGPSXMPAndComments(t *testing.T) {
	in := photoWithMetadata(t, quadrants(120, 80), 1)
	if !bytes.Contains(in, gpsLatitude) || !bytes.Contains(in, []byte("Exif")) {
		t.Fatal("fixture lacks its EXIF")
	}
	img := clean(t, in)
	if img.ContentType != TypeJPEG || img.Width != 120 || img.Height != 80 {
		t.Fatalf("got %s %dx%d, want image/jpeg 120x80", img.ContentType, img.Width, img.Height)
	}
	assertAbsent(t, img.Bytes, "Exif", string(gpsLatitude), "http://ns.adobe.com", "GPSLatitude", "taken at home")
	for i := 2; i+1 < len(img.Bytes) && img.Bytes[i] == 0xFF; {
		marker := img.Bytes[i+1]
		if marker >= 0xE1 && marker <= 0xEF || marker == 0xFE {
			t.Errorf("output has marker segment FF%02X", marker)
		}
		if marker == 0xDA {
			break
		}
		i += 2 + (int(img.Bytes[i+2])<<8 | int(img.Bytes[i+3]))
	}
	m, err := jpeg.Decode(bytes.NewReader(img.Bytes))
	if err != nil {
		t.Fatal(err)
	}
	if b := m.Bounds(); b.Dx() != 120 || b.Dy() != 80 {
		t.Fatalf("decoded %v", b)
	}
}

// isRed tells the fixture's red from its blue despite JPEG's losses.
func isRed(c color.Color) bool {
	r, _, b, _ := c.RGBA()
	return r > 0xA000 && b < 0x6000
}

func TestJPEGOrientationIsApplied(t *testing.T) {
	// The red quadrant is top-left as stored; each orientation moves it.
	cases := []struct {
		orientation uint16
		w, h        int
		redAt       image.Point // a point inside where red must end up
	}{
		{1, 80, 40, image.Pt(10, 5)},
		{3, 80, 40, image.Pt(70, 35)},
		{6, 40, 80, image.Pt(35, 10)}, // turned clockwise: top-left goes top-right
		{8, 40, 80, image.Pt(5, 70)},  // counter-clockwise: bottom-left
		{2, 80, 40, image.Pt(70, 5)},
		{5, 40, 80, image.Pt(5, 10)},
	}
	for _, c := range cases {
		img := clean(t, photoWithMetadata(t, quadrants(80, 40), c.orientation))
		if img.Width != c.w || img.Height != c.h {
			t.Errorf("orientation %d: %dx%d, want %dx%d", c.orientation, img.Width, img.Height, c.w, c.h)
			continue
		}
		m, err := jpeg.Decode(bytes.NewReader(img.Bytes))
		if err != nil {
			t.Fatal(err)
		}
		if !isRed(m.At(c.redAt.X, c.redAt.Y)) {
			t.Errorf("orientation %d: pixel %v is %v, want red", c.orientation, c.redAt, m.At(c.redAt.X, c.redAt.Y))
		}
		red := 0
		for _, p := range []image.Point{{5, 5}, {c.w - 5, 5}, {5, c.h - 5}, {c.w - 5, c.h - 5}} {
			if isRed(m.At(p.X, p.Y)) {
				red++
			}
		}
		if red != 1 {
			t.Errorf("orientation %d: %d red corners, want 1", c.orientation, red)
		}
	}
}

func TestLargeJPEGIsDownscaled(t *testing.T) {
	img := clean(t, photoWithMetadata(t, quadrants(2100, 600), 6))
	if img.Width != 585 || img.Height != MaxSide {
		t.Fatalf("got %dx%d, want 585x%d (rotated, longest side %d)", img.Width, img.Height, MaxSide, MaxSide)
	}
	m, err := jpeg.Decode(bytes.NewReader(img.Bytes))
	if err != nil {
		t.Fatal(err)
	}
	if !isRed(m.At(500, 100)) || isRed(m.At(100, 100)) {
		t.Error("downscaled image lost its orientation")
	}
}

func TestLargeGrayJPEGIsDownscaled(t *testing.T) {
	src := image.NewGray(image.Rect(0, 0, 2100, 50))
	for i := range src.Pix {
		src.Pix[i] = uint8(i % 2100 * 255 / 2100)
	}
	img := clean(t, encodeJPEG(t, src))
	if img.Width != MaxSide || img.Height != 49 {
		t.Fatalf("got %dx%d, want %dx49", img.Width, img.Height, MaxSide)
	}
	m, err := jpeg.Decode(bytes.NewReader(img.Bytes))
	if err != nil {
		t.Fatal(err)
	}
	// The ramp survives the resampling: dark on the left, light on the right.
	if l, r := color.GrayModel.Convert(m.At(10, 25)).(color.Gray).Y, color.GrayModel.Convert(m.At(2030, 25)).(color.Gray).Y; l > 10 || r < 240 {
		t.Errorf("ramp ends %d and %d", l, r)
	}
}

func TestPNGLosesTextAndEXIFChunks(t *testing.T) {
	src := image.NewNRGBA(image.Rect(0, 0, 30, 20))
	for i := range src.Pix {
		src.Pix[i] = uint8(i * 7)
	}
	in := withPNGChunks(encodePNG(t, src),
		pngChunk("tEXt", []byte("Comment\x00secret text")),
		pngChunk("iTXt", []byte("XML:com.adobe.xmp\x00\x00\x00\x00\x00"+xmpPacket)),
		pngChunk("eXIf", exifAPP1(1)[6:]),
		pngChunk("iCCP", []byte("icc\x00\x00not really deflate")),
	)
	img := clean(t, in)
	if img.ContentType != TypePNG || img.Width != 30 || img.Height != 20 {
		t.Fatalf("got %s %dx%d", img.ContentType, img.Width, img.Height)
	}
	assertAbsent(t, img.Bytes, "tEXt", "iTXt", "eXIf", "iCCP", "secret text", "adobe", string(gpsLatitude))
	m, err := png.Decode(bytes.NewReader(img.Bytes))
	if err != nil {
		t.Fatal(err)
	}
	// Lossless: every pixel survives.
	for y := range 20 {
		for x := range 30 {
			if color.NRGBAModel.Convert(m.At(x, y)) != src.NRGBAAt(x, y) {
				t.Fatalf("pixel (%d,%d) changed: %v, want %v", x, y, m.At(x, y), src.NRGBAAt(x, y))
			}
		}
	}
}

func TestTypeComesFromTheBytes(t *testing.T) {
	// Clean is never told a name or a declared type; a PNG is a PNG.
	img := clean(t, encodePNG(t, quadrants(10, 10)))
	if img.ContentType != TypePNG {
		t.Fatalf("PNG reported as %q", img.ContentType)
	}
	img = clean(t, encodeJPEG(t, quadrants(10, 10)))
	if img.ContentType != TypeJPEG {
		t.Fatalf("JPEG reported as %q", img.ContentType)
	}
}

func TestLargePNGWithAlphaIsDownscaled(t *testing.T) {
	src := image.NewNRGBA(image.Rect(0, 0, 2100, 100))
	for y := range 100 {
		for x := range 2100 {
			// Opaque white next to transparent: Catmull-Rom overshoots here.
			if x%20 < 10 {
				src.SetNRGBA(x, y, color.NRGBA{255, 255, 255, 255})
			}
		}
	}
	img := clean(t, encodePNG(t, src))
	if img.Width != MaxSide || img.Height != 98 {
		t.Fatalf("got %dx%d, want %dx98", img.Width, img.Height, MaxSide)
	}
	m, err := png.Decode(bytes.NewReader(img.Bytes))
	if err != nil {
		t.Fatal(err)
	}
	var transparent, opaque int
	for x := range img.Width {
		r, _, _, a := m.At(x, 50).RGBA()
		if r > a {
			t.Fatalf("pixel %d: premultiplied red %d over alpha %d", x, r, a)
		}
		switch a {
		case 0:
			transparent++
		case 0xFFFF:
			opaque++
		}
	}
	if transparent < 500 || opaque < 500 {
		t.Errorf("stripes lost: %d transparent, %d opaque of %d", transparent, opaque, img.Width)
	}
}

func TestRefusesWhatIsNotAnImage(t *testing.T) {
	jpg := encodeJPEG(t, quadrants(64, 64))
	cases := map[string][]byte{
		"empty":              nil,
		"html":               []byte("<!doctype html><html><body><script>alert(1)</script></body></html>"),
		"svg":                []byte(`<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><rect width="10" height="10"/></svg>`),
		"svg with prolog":    []byte("<?xml version=\"1.0\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\"/>"),
		"truncated jpeg":     jpg[:len(jpg)/2],
		"jpeg magic only":    {0xFF, 0xD8, 0xFF},
		"gif polyglot":       []byte("GIF89a/*\x00\x00\x00\x00*/=1;alert(document.domain)//<script>alert(1)</script>"),
		"png magic and html": append([]byte("\x89PNG\r\n\x1a\n"), "<html><script>alert(1)</script></html>"...),
		"html then jpeg":     append([]byte("<html><img src=x onerror=alert(1)>"), jpg...),
		"riff but not webp":  append([]byte("RIFF\x04\x00\x00\x00WAVE"), make([]byte, 16)...),
		"webp chunk overrun": []byte("RIFF\x14\x00\x00\x00WEBPVP8L\xff\x00\x00\x00\x2f\x00\x00\x00\x00"),
		"pdf":                []byte("%PDF-1.7\n1 0 obj<<>>endobj"),
		"bmp":                append([]byte("BM"), make([]byte, 60)...),
	}
	for name, data := range cases {
		_, err := Clean(bytes.NewReader(data))
		if !errors.Is(err, ErrNotImage) {
			t.Errorf("%s: err = %v, want ErrNotImage", name, err)
		}
	}
}

func TestTrailingPayloadIsDropped(t *testing.T) {
	// A real image with HTML after it is an image; the HTML must go.
	const html = "<html><script>alert(1)</script></html>"
	for name, data := range map[string][]byte{
		"jpeg": append(encodeJPEG(t, quadrants(16, 16)), html...),
		"png":  append(encodePNG(t, quadrants(16, 16)), html...),
		"gif":  append(animatedGIF(t, 8, 8), html...),
		"webp": append(riff(riffChunk{"VP8L", vp8lStripes(8, 8, 1, 2)}), html...),
	} {
		img, err := Clean(bytes.NewReader(data))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		assertAbsent(t, img.Bytes, "<html>", "script")
	}
}

func TestTooLarge(t *testing.T) {
	_, err := Clean(io.LimitReader(zeros{}, MaxUploadBytes+1))
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("5 MiB + 1: err = %v, want ErrTooLarge", err)
	}
	// Exactly the limit is read and judged on its bytes.
	_, err = Clean(io.LimitReader(zeros{}, MaxUploadBytes))
	if !errors.Is(err, ErrNotImage) {
		t.Fatalf("5 MiB of zeros: err = %v, want ErrNotImage", err)
	}
	// An endless stream is not read to its end.
	_, err = Clean(zeros{})
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("endless: err = %v, want ErrTooLarge", err)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// allocated returns the bytes f allocates.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func TestDecompressionBombsAreRefusedWithoutAllocating(t *testing.T) {
	cases := []struct {
		name string
		data []byte
		want error
	}{
		{"png 100000x100000", pngHeaderOnly(100000, 100000), ErrTooLarge},
		{"png 7000x7000 with no data", pngHeaderOnly(7000, 7000), ErrNotImage},
		{"webp 16384x16384 canvas", riff(vp8xChunk(0, 16384, 16384), riffChunk{"VP8L", vp8lStripes(8, 8, 1, 2)}), ErrTooLarge},
		{"webp vp8l 16384x16384", riff(riffChunk{"VP8L", vp8lHeader(16384, 16384)}), ErrTooLarge},
		{"jpeg 60000x60000", jpegSOFOnly(60000, 60000), ErrTooLarge},
		{"gif 65535x65535", gifScreenOnly(65535, 65535), ErrTooLarge},
	}
	for _, c := range cases {
		var err error
		n := allocated(func() { _, err = Clean(bytes.NewReader(c.data)) })
		if !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
		}
		if n > 1<<20 {
			t.Errorf("%s: allocated %d bytes before refusing", c.name, n)
		}
	}
}

// vp8lHeader is only the 5-byte header of a w x h VP8L bitstream.
func vp8lHeader(w, h int) []byte {
	var bw bitWriter
	bw.write(0x2F, 8)
	bw.write(uint64(w-1), 14)
	bw.write(uint64(h-1), 14)
	bw.write(0, 4)
	return bw.bytes()
}

// jpegSOFOnly is SOI, a baseline SOF0 claiming w x h and an SOS header
// (which DecodeConfig waits for), then EOI.
func jpegSOFOnly(w, h uint16) []byte {
	sof := []byte{8, byte(h >> 8), byte(h), byte(w >> 8), byte(w), 3,
		1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1}
	sos := []byte{3, 1, 0, 2, 0x11, 3, 0x11, 0, 63, 0}
	out := append([]byte{0xFF, 0xD8}, jpegSegment(0xC0, sof)...)
	out = append(out, jpegSegment(0xDA, sos)...)
	return append(out, 0xFF, 0xD9)
}

// gifScreenOnly is a GIF header with a w x h logical screen and one 1x1 frame.
func gifScreenOnly(w, h uint16) []byte {
	b := []byte("GIF89a")
	b = append(b, byte(w), byte(w>>8), byte(h), byte(h>>8), 0x80, 0, 0)
	b = append(b, 0, 0, 0, 255, 255, 255)                               // 2-colour global table
	b = append(b, 0x2C, 0, 0, 0, 0, 1, 0, 1, 0, 0, 2, 2, 0x4C, 0x01, 0) // one pixel
	return append(b, 0x3B)
}

func TestGIFBombs(t *testing.T) {
	// Frame count: many 1x1 frames on a small screen.
	many := []byte("GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff")
	for range maxFrames + 1 {
		many = append(many, 0x2C, 0, 0, 0, 0, 1, 0, 1, 0, 0, 2, 2, 0x4C, 0x01, 0)
	}
	many = append(many, 0x3B)
	if _, err := Clean(bytes.NewReader(many)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("%d frames: err = %v, want ErrTooLarge", maxFrames+1, err)
	}
	// Frame area: frames claiming far more pixels than their data holds.
	big := []byte("GIF89a\xff\x0f\xff\x0f\x80\x00\x00\x00\x00\x00\xff\xff\xff")
	for range 10 {
		big = append(big, 0x2C, 0, 0, 0, 0, 0xff, 0x0f, 0xff, 0x0f, 0, 2, 2, 0x4C, 0x01, 0)
	}
	big = append(big, 0x3B)
	var err error
	n := allocated(func() { _, err = Clean(bytes.NewReader(big)) })
	if !errors.Is(err, ErrTooLarge) && !errors.Is(err, ErrNotImage) {
		t.Errorf("10 frames of 4095x4095: err = %v, want a refusal", err)
	}
	if n > 1<<20 {
		t.Errorf("10 frames of 4095x4095: allocated %d bytes before refusing", n)
	}
}

func TestAnimatedGIFKeepsFramesNotExtensions(t *testing.T) {
	in := animatedGIF(t, 40, 30)
	if !bytes.Contains(in, []byte("secret comment")) || !bytes.Contains(in, []byte("XMP DataXMP")) {
		t.Fatal("fixture lacks its extensions")
	}
	img := clean(t, in)
	if img.ContentType != TypeGIF || img.Width != 40 || img.Height != 30 {
		t.Fatalf("got %s %dx%d", img.ContentType, img.Width, img.Height)
	}
	assertAbsent(t, img.Bytes, "secret comment", "XMP DataXMP", "adobe")
	g, err := gif.DecodeAll(bytes.NewReader(img.Bytes))
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Image) != 3 || g.LoopCount != 0 {
		t.Fatalf("%d frames, loop %d; want 3 frames looping forever", len(g.Image), g.LoopCount)
	}
	for i, f := range g.Image {
		if g.Delay[i] != 10*(i+1) {
			t.Errorf("frame %d delay %d", i, g.Delay[i])
		}
		if f.ColorIndexAt(5, 5) != uint8(i) {
			t.Errorf("frame %d pixel index %d", i, f.ColorIndexAt(5, 5))
		}
	}
	if !bytes.Contains(img.Bytes, []byte("NETSCAPE2.0")) {
		t.Error("loop extension lost")
	}
}

func TestLargeAnimatedGIFIsDownscaled(t *testing.T) {
	img := clean(t, animatedGIF(t, 2100, 300))
	if img.Width != MaxSide || img.Height != 293 {
		t.Fatalf("got %dx%d, want %dx293", img.Width, img.Height, MaxSide)
	}
	g, err := gif.DecodeAll(bytes.NewReader(img.Bytes))
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Image) != 3 {
		t.Fatalf("%d frames, want 3", len(g.Image))
	}
	for i, f := range g.Image {
		if f.Rect != image.Rect(0, 0, MaxSide, 293) || f.ColorIndexAt(1000, 100) != uint8(i) {
			t.Errorf("frame %d: %v, index %d", i, f.Rect, f.ColorIndexAt(1000, 100))
		}
	}
}

// chunkIDs lists a WebP file's top-level chunks, checking the RIFF size.
func chunkIDs(t *testing.T, file []byte) []string {
	t.Helper()
	if string(file[:4]) != "RIFF" || string(file[8:12]) != "WEBP" {
		t.Fatal("not a RIFF WEBP file")
	}
	if n := int(file[4]) | int(file[5])<<8 | int(file[6])<<16 | int(file[7])<<24; n != len(file)-8 {
		t.Fatalf("RIFF size %d, file %d bytes", n, len(file))
	}
	chunks, err := readChunks(file[12:])
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, c := range chunks {
		ids = append(ids, c.id)
	}
	return ids
}

func TestVP8LFixtureDecodes(t *testing.T) {
	m, err := webp.Decode(bytes.NewReader(riff(riffChunk{"VP8L", vp8lStripes(8, 4, 0x10, 0xF0)})))
	if err != nil {
		t.Fatal(err)
	}
	for x := range 8 {
		want := uint8(0x10)
		if x/2%2 == 1 {
			want = 0xF0
		}
		if got := color.NRGBAModel.Convert(m.At(x, 3)).(color.NRGBA); got != (color.NRGBA{0x20, want, 0x40, 0xFF}) {
			t.Fatalf("pixel %d = %v", x, got)
		}
	}
}

func TestWebPLosesEXIFXMPAndICC(t *testing.T) {
	in := webpWithMetadata(12, 6)
	before, err := webp.Decode(bytes.NewReader(in))
	if err != nil {
		t.Fatalf("fixture does not decode: %v", err)
	}
	img := clean(t, in)
	if img.ContentType != TypeWebP || img.Width != 12 || img.Height != 6 {
		t.Fatalf("got %s %dx%d", img.ContentType, img.Width, img.Height)
	}
	if ids := strings.Join(chunkIDs(t, img.Bytes), ","); ids != "VP8X,VP8L" {
		t.Fatalf("chunks %s, want VP8X,VP8L", ids)
	}
	if flags := img.Bytes[20]; flags != 0 {
		t.Errorf("VP8X flags %#x, want 0", flags)
	}
	assertAbsent(t, img.Bytes, "EXIF", "XMP ", "ICCP", "fake icc", string(gpsLatitude), "adobe", "unknown")
	after, err := webp.Decode(bytes.NewReader(img.Bytes))
	if err != nil {
		t.Fatal(err)
	}
	for y := range 6 {
		for x := range 12 {
			if before.At(x, y) != after.At(x, y) {
				t.Fatalf("pixel (%d,%d) changed", x, y)
			}
		}
	}
}

func TestSimpleWebPDropsTrailingChunks(t *testing.T) {
	img := clean(t, riff(riffChunk{"VP8L", vp8lStripes(5, 3, 1, 2)}, riffChunk{"EXIF", exifAPP1(1)[6:]}))
	if ids := strings.Join(chunkIDs(t, img.Bytes), ","); ids != "VP8L" {
		t.Fatalf("chunks %s, want VP8L", ids)
	}
	if img.Width != 5 || img.Height != 3 {
		t.Fatalf("%dx%d", img.Width, img.Height)
	}
}

func TestAnimatedWebPKeepsFrames(t *testing.T) {
	img := clean(t, animatedWebP(10, 4))
	if ids := strings.Join(chunkIDs(t, img.Bytes), ","); ids != "VP8X,ANIM,ANMF,ANMF" {
		t.Fatalf("chunks %s", ids)
	}
	if flags := img.Bytes[20]; flags != vp8xAnimation {
		t.Errorf("VP8X flags %#x, want animation only", flags)
	}
	assertAbsent(t, img.Bytes, "EXIF", "XMP ", "adobe")
	if img.Width != 10 || img.Height != 4 {
		t.Fatalf("%dx%d", img.Width, img.Height)
	}
	// A frame whose bitstream is corrupt is refused.
	bad := animatedWebP(10, 4)
	i := bytes.LastIndex(bad, []byte("VP8L"))
	bad[i+8] = 0 // VP8L signature
	if _, err := Clean(bytes.NewReader(bad)); !errors.Is(err, ErrNotImage) {
		t.Errorf("corrupt frame: err = %v, want ErrNotImage", err)
	}
}

func TestAvatar(t *testing.T) {
	// 300x200: red left 50 columns, green right 50, blue between; the
	// centred square is all blue.
	src := image.NewRGBA(image.Rect(0, 0, 300, 200))
	for y := range 200 {
		for x := range 300 {
			c := color.RGBA{0, 0, 255, 255}
			if x < 50 {
				c = color.RGBA{255, 0, 0, 255}
			} else if x >= 250 {
				c = color.RGBA{0, 255, 0, 255}
			}
			src.SetRGBA(x, y, c)
		}
	}
	g := &gif.GIF{}
	pal := image.NewPaletted(src.Rect, color.Palette{color.RGBA{255, 0, 0, 255}, color.RGBA{0, 255, 0, 255}, color.RGBA{0, 0, 255, 255}})
	for i := range pal.Pix {
		pal.Pix[i] = uint8(pal.Palette.Index(src.At(i%300, i/300)))
	}
	g.Image, g.Delay = []*image.Paletted{pal, pal}, []int{5, 5}
	var gb bytes.Buffer
	if err := gif.EncodeAll(&gb, g); err != nil {
		t.Fatal(err)
	}
	// A lossless WebP to check the PNG fallback: 12x6 crops to 6x6.
	cases := []struct {
		name, wantType string
		data           []byte
	}{
		{"jpeg", TypeJPEG, encodeJPEG(t, src)},
		{"png", TypePNG, encodePNG(t, src)},
		{"gif", TypeGIF, gb.Bytes()},
		{"webp", TypePNG, webpWithMetadata(12, 6)},
	}
	for _, c := range cases {
		a, err := Avatar(c.data)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if a.ContentType != c.wantType || a.Width != AvatarSide || a.Height != AvatarSide {
			t.Errorf("%s: %s %dx%d, want %s %dx%d", c.name, a.ContentType, a.Width, a.Height, c.wantType, AvatarSide, AvatarSide)
			continue
		}
		m, _, err := image.Decode(bytes.NewReader(a.Bytes))
		if err != nil {
			t.Errorf("%s: output does not decode: %v", c.name, err)
			continue
		}
		if b := m.Bounds(); b.Dx() != AvatarSide || b.Dy() != AvatarSide {
			t.Errorf("%s: decoded %v", c.name, b)
		}
		if c.name == "webp" {
			continue
		}
		for _, p := range []image.Point{{2, 2}, {253, 2}, {2, 253}, {253, 253}, {128, 128}} {
			if r, gr, b, _ := m.At(p.X, p.Y).RGBA(); b < 0xC000 || r > 0x4000 || gr > 0x4000 {
				t.Errorf("%s: pixel %v = %v, want blue (centre crop)", c.name, p, m.At(p.X, p.Y))
			}
		}
	}
	if _, err := Avatar([]byte("<svg/>")); !errors.Is(err, ErrNotImage) {
		t.Errorf("svg avatar: err = %v", err)
	}
}

func TestCleanIsStable(t *testing.T) {
	// Cleaning a cleaned image keeps its type and size.
	for name, data := range map[string][]byte{
		"jpeg": photoWithMetadata(t, quadrants(50, 30), 6),
		"png":  encodePNG(t, quadrants(20, 20)),
		"gif":  animatedGIF(t, 9, 9),
		"webp": webpWithMetadata(7, 3),
		"anim": animatedWebP(6, 6),
	} {
		first := clean(t, data)
		second := clean(t, first.Bytes)
		if first.ContentType != second.ContentType || first.Width != second.Width || first.Height != second.Height {
			t.Errorf("%s: %s %dx%d then %s %dx%d", name, first.ContentType, first.Width, first.Height, second.ContentType, second.Width, second.Height)
		}
	}
}

func FuzzClean(f *testing.F) {
	f.Add(photoWithMetadata(f, quadrants(16, 8), 6))
	f.Add(encodePNG(f, quadrants(8, 8)))
	f.Add(withPNGChunks(encodePNG(f, quadrants(4, 4)), pngChunk("tEXt", []byte("a\x00b"))))
	f.Add(animatedGIF(f, 6, 4))
	f.Add(webpWithMetadata(5, 5))
	f.Add(animatedWebP(4, 4))
	f.Add(riff(riffChunk{"VP8L", vp8lStripes(3, 3, 1, 2)}))
	f.Add(gifScreenOnly(2, 2))
	f.Add(pngHeaderOnly(4, 4))
	f.Fuzz(func(t *testing.T, data []byte) {
		img, err := Clean(bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, ErrNotImage) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		if img.Width <= 0 || img.Height <= 0 || img.Width > MaxSide && img.ContentType != TypeWebP {
			t.Fatalf("bad size %dx%d", img.Width, img.Height)
		}
		again, err := Clean(bytes.NewReader(img.Bytes))
		if err != nil {
			t.Fatalf("output does not clean again: %v", err)
		}
		if again.ContentType != img.ContentType || again.Width != img.Width || again.Height != img.Height {
			t.Fatalf("%s %dx%d then %s %dx%d", img.ContentType, img.Width, img.Height, again.ContentType, again.Width, again.Height)
		}
	})
}

func TestRecognisedTypesAreTheContracts(t *testing.T) {
	got := []string{TypeJPEG, TypePNG, TypeWebP, TypeGIF}
	if !slices.Equal(got, wall.UploadContentTypes) {
		t.Fatalf("media recognises %v, the contract allows %v", got, wall.UploadContentTypes)
	}
}
