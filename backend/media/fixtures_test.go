package media

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"testing"
)

// Fixtures are generated here rather than stored: each one says what it is.

// quadrants is w x h with a red top-left quadrant and the rest blue, so any
// rotation or mirror is visible.
func quadrants(w, h int) *image.RGBA {
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			c := color.RGBA{0, 0, 255, 255}
			if x < w/2 && y < h/2 {
				c = color.RGBA{255, 0, 0, 255}
			}
			m.SetRGBA(x, y, c)
		}
	}
	return m
}

func encodeJPEG(t testing.TB, m image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, m, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func encodePNG(t testing.TB, m image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, m); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// jpegSegment is a JPEG marker segment: FF marker, big-endian length, data.
func jpegSegment(marker byte, data []byte) []byte {
	s := []byte{0xFF, marker, 0, 0}
	binary.BigEndian.PutUint16(s[2:], uint16(len(data)+2))
	return append(s, data...)
}

// withSegments inserts segments right after a JPEG's SOI.
func withSegments(jpg []byte, segments ...[]byte) []byte {
	out := append([]byte(nil), jpg[:2]...)
	for _, s := range segments {
		out = append(out, s...)
	}
	return append(out, jpg[2:]...)
}

// gpsLatitude is the GPS latitude rationals (52/1 31/1 1234/100) as they
// sit in the EXIF fixture: their bytes must not survive Clean.
var gpsLatitude = []byte{
	0, 0, 0, 52, 0, 0, 0, 1,
	0, 0, 0, 31, 0, 0, 0, 1,
	0, 0, 0x04, 0xD2, 0, 0, 0, 100,
}

// exifAPP1 builds a big-endian EXIF APP1 payload with an orientation tag and
// a GPS IFD holding a latitude.
func exifAPP1(orientation uint16) []byte {
	be := binary.BigEndian
	t := []byte("MM\x00\x2a\x00\x00\x00\x08")
	// IFD0 at 8: two entries, then the next-IFD offset.
	const ifd0Len = 2 + 2*12 + 4
	gpsIFD := uint32(8 + ifd0Len)
	entry := func(tag, typ uint16, count, value uint32) []byte {
		e := make([]byte, 12)
		be.PutUint16(e, tag)
		be.PutUint16(e[2:], typ)
		be.PutUint32(e[4:], count)
		be.PutUint32(e[8:], value)
		return e
	}
	t = be.AppendUint16(t, 2)
	t = append(t, entry(0x0112, 3, 1, uint32(orientation)<<16)...) // SHORT, left-justified
	t = append(t, entry(0x8825, 4, 1, gpsIFD)...)                  // GPSInfo IFD pointer
	t = be.AppendUint32(t, 0)
	// GPS IFD: GPSLatitudeRef "N", GPSLatitude at the offset after it.
	const gpsIFDLen = 2 + 2*12 + 4
	t = be.AppendUint16(t, 2)
	t = append(t, entry(0x0001, 2, 2, uint32('N')<<24)...)
	t = append(t, entry(0x0002, 5, 3, gpsIFD+gpsIFDLen)...)
	t = be.AppendUint32(t, 0)
	t = append(t, gpsLatitude...)
	return append([]byte("Exif\x00\x00"), t...)
}

const xmpPacket = `<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF><rdf:Description exif:GPSLatitude="52,31.2N"/></rdf:RDF></x:xmpmeta>`

// photoWithMetadata is a JPEG carrying EXIF (orientation, GPS), XMP and a
// comment.
func photoWithMetadata(t testing.TB, m image.Image, orientation uint16) []byte {
	return withSegments(encodeJPEG(t, m),
		jpegSegment(0xE1, exifAPP1(orientation)),
		jpegSegment(0xE1, append([]byte("http://ns.adobe.com/xap/1.0/\x00"), xmpPacket...)),
		jpegSegment(0xFE, []byte("comment: taken at home")),
	)
}

// pngChunk is a PNG chunk with its CRC.
func pngChunk(typ string, data []byte) []byte {
	c := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
	c = append(c, typ...)
	c = append(c, data...)
	return binary.BigEndian.AppendUint32(c, crc32.ChecksumIEEE(c[4:]))
}

// withPNGChunks inserts chunks right after IHDR.
func withPNGChunks(p []byte, chunks ...[]byte) []byte {
	const afterIHDR = 8 + 8 + 13 + 4
	out := append([]byte(nil), p[:afterIHDR]...)
	for _, c := range chunks {
		out = append(out, c...)
	}
	return append(out, p[afterIHDR:]...)
}

// pngHeaderOnly is a PNG signature and an IHDR claiming w x h RGBA, and no
// image data.
func pngHeaderOnly(w, h uint32) []byte {
	ihdr := binary.BigEndian.AppendUint32(nil, w)
	ihdr = binary.BigEndian.AppendUint32(ihdr, h)
	ihdr = append(ihdr, 8, 6, 0, 0, 0)
	out := append([]byte("\x89PNG\r\n\x1a\n"), pngChunk("IHDR", ihdr)...)
	return append(out, pngChunk("IEND", nil)...)
}

// animatedGIF has three frames of w x h with delays 10, 20, 30 and loops
// forever; a comment and an XMP application extension are spliced in.
func animatedGIF(t testing.TB, w, h int) []byte {
	t.Helper()
	palette := color.Palette{color.RGBA{255, 0, 0, 255}, color.RGBA{0, 255, 0, 255}, color.RGBA{0, 0, 255, 255}, color.Transparent}
	g := &gif.GIF{LoopCount: 0}
	for i := range 3 {
		f := image.NewPaletted(image.Rect(0, 0, w, h), palette)
		for p := range f.Pix {
			f.Pix[p] = uint8(i)
		}
		g.Image = append(g.Image, f)
		g.Delay = append(g.Delay, 10*(i+1))
	}
	var b bytes.Buffer
	if err := gif.EncodeAll(&b, g); err != nil {
		t.Fatal(err)
	}
	data := b.Bytes()
	comment := append([]byte{0x21, 0xFE, 14}, "secret comment"...)
	comment = append(comment, 0)
	xmp := append([]byte{0x21, 0xFF, 11}, "XMP DataXMP"...)
	xmp = append(xmp, byte(len(xmpPacket)))
	xmp = append(xmp, xmpPacket...)
	xmp = append(xmp, 0)
	// After the header, logical screen descriptor and global colour table.
	at := 13
	if data[10]&0x80 != 0 {
		at += 3 << (data[10]&7 + 1)
	}
	out := append([]byte(nil), data[:at]...)
	out = append(out, comment...)
	out = append(out, xmp...)
	out = append(out, data[at:len(data)-1]...)
	out = append(out, comment...)
	return append(out, 0x3B)
}

// bitWriter writes VP8L's LSB-first bit stream.
type bitWriter struct {
	buf   []byte
	nbits uint
	acc   uint64
}

func (w *bitWriter) write(v uint64, n uint) {
	w.acc |= v << w.nbits
	w.nbits += n
	for w.nbits >= 8 {
		w.buf = append(w.buf, byte(w.acc))
		w.acc >>= 8
		w.nbits -= 8
	}
}

func (w *bitWriter) bytes() []byte {
	if w.nbits > 0 {
		w.buf = append(w.buf, byte(w.acc))
	}
	return w.buf
}

// vp8lStripes encodes a w x h lossless VP8L bitstream with no transforms and
// "simple" prefix codes: red, blue and alpha have one symbol each (zero bits
// per pixel), green has two (one bit per pixel), so pixels alternate between
// two greens in vertical stripes.
func vp8lStripes(w, h int, green0, green1 uint8) []byte {
	var bw bitWriter
	bw.write(0x2F, 8) // signature
	bw.write(uint64(w-1), 14)
	bw.write(uint64(h-1), 14)
	bw.write(0, 1) // alpha_is_used
	bw.write(0, 3) // version
	bw.write(0, 1) // no transform
	bw.write(0, 1) // no colour cache
	bw.write(0, 1) // no meta prefix codes
	simple1 := func(symbol uint8) {
		bw.write(1, 1) // simple code
		bw.write(0, 1) // one symbol
		bw.write(1, 1) // 8-bit symbol
		bw.write(uint64(symbol), 8)
	}
	// Green: two 8-bit symbols, codes 0 and 1 in that order.
	bw.write(1, 1)
	bw.write(1, 1)
	bw.write(1, 1)
	bw.write(uint64(green0), 8)
	bw.write(uint64(green1), 8)
	simple1(0x20) // red
	simple1(0x40) // blue
	simple1(0xFF) // alpha
	simple1(0)    // distance (unused)
	for range h {
		for x := range w {
			bw.write(uint64(x/2%2), 1)
		}
	}
	return bw.bytes()
}

func riff(chunks ...riffChunk) []byte { return writeWebP(chunks) }

// webpWithMetadata is an extended WebP: VP8X announcing ICC, EXIF and XMP,
// an ICCP chunk, the VP8L image, EXIF, XMP and an unknown chunk.
func webpWithMetadata(w, h int) []byte {
	return riff(
		vp8xChunk(vp8xICC|vp8xEXIF|vp8xXMP, w, h),
		riffChunk{"ICCP", []byte("fake icc profile")},
		riffChunk{"VP8L", vp8lStripes(w, h, 0x10, 0xF0)},
		riffChunk{"EXIF", exifAPP1(1)[6:]},
		riffChunk{"XMP ", []byte(xmpPacket)},
		riffChunk{"ZZZZ", []byte("unknown")},
	)
}

// animatedWebP has two VP8L frames and EXIF.
func animatedWebP(w, h int) []byte {
	frame := func(g0, g1 uint8) riffChunk {
		hdr := make([]byte, 16)
		putUint24(hdr[6:], uint32(w-1))
		putUint24(hdr[9:], uint32(h-1))
		putUint24(hdr[12:], 100) // duration ms
		data := append(hdr, riff(riffChunk{"VP8L", vp8lStripes(w, h, g0, g1)})[12:]...)
		data = append(data, riff(riffChunk{"XMP ", []byte(xmpPacket)})[12:]...)
		return riffChunk{"ANMF", data}
	}
	return riff(
		vp8xChunk(vp8xAnimation|vp8xEXIF, w, h),
		riffChunk{"ANIM", []byte{0, 0, 0, 0, 0, 0}},
		frame(0x10, 0xF0),
		riffChunk{"EXIF", exifAPP1(1)[6:]},
		frame(0x30, 0x90),
	)
}
