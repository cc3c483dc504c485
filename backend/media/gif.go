package media

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"image"
	"image/gif"
)

// scanGIF walks a GIF's blocks without decompressing anything and returns
// its frame count, refusing animations over maxFrames or maxFramePixels
// before gif.DecodeAll holds every frame in memory.
func scanGIF(data []byte) (frames int, err error) {
	bad := func(what string) (int, error) { return 0, fmt.Errorf("%w: gif: %s", ErrNotImage, what) }
	if len(data) < 13 {
		return bad("short header")
	}
	i := 13
	if flags := data[10]; flags&0x80 != 0 {
		i += 3 << (flags&7 + 1)
	}
	// skipSubBlocks returns the index after a chain of data sub-blocks.
	skipSubBlocks := func(i int) int {
		for i < len(data) {
			n := int(data[i])
			i++
			if n == 0 {
				return i
			}
			i += n
		}
		return -1
	}
	var area int64
	for {
		if i >= len(data) {
			return bad("no trailer")
		}
		switch data[i] {
		case 0x3B: // trailer
			if frames == 0 {
				return bad("no frames")
			}
			if area > int64(len(data))*lzwMaxRatio {
				return bad("frames claim more pixels than the data holds")
			}
			return frames, nil
		case 0x21: // extension: label, then sub-blocks
			if i+2 > len(data) {
				return bad("truncated extension")
			}
			if i = skipSubBlocks(i + 2); i < 0 {
				return bad("truncated extension")
			}
		case 0x2C: // image descriptor
			if i+10 > len(data) {
				return bad("truncated image descriptor")
			}
			w := int64(binary.LittleEndian.Uint16(data[i+5:]))
			h := int64(binary.LittleEndian.Uint16(data[i+7:]))
			flags := data[i+9]
			i += 10
			if flags&0x80 != 0 {
				i += 3 << (flags&7 + 1)
			}
			i++ // LZW minimum code size
			if i > len(data) {
				return bad("truncated image")
			}
			if i = skipSubBlocks(i); i < 0 {
				return bad("truncated image data")
			}
			frames++
			area += w * h
			if frames > maxFrames {
				return 0, fmt.Errorf("%w: gif has over %d frames", ErrTooLarge, maxFrames)
			}
			if area > maxFramePixels {
				return 0, fmt.Errorf("%w: gif frames total over %d pixels", ErrTooLarge, maxFramePixels)
			}
		default:
			return bad("unknown block")
		}
	}
}

func cleanGIF(data []byte) (Image, error) {
	if err := checkStill(TypeGIF, data); err != nil {
		return Image{}, err
	}
	g, err := gif.DecodeAll(bytes.NewReader(data))
	if err != nil {
		return Image{}, notImage(err)
	}
	if len(g.Image) == 0 {
		return Image{}, fmt.Errorf("%w: gif has no frames", ErrNotImage)
	}
	if dw, dh, shrink := fitSide(g.Config.Width, g.Config.Height); shrink {
		shrinkGIF(g, dw, dh)
	}
	var out bytes.Buffer
	// EncodeAll writes the frames, their delays and disposal, and the
	// NETSCAPE2.0 loop extension only: comments, XMP and every other
	// application extension were never kept by DecodeAll.
	if err := gif.EncodeAll(&out, g); err != nil {
		return Image{}, fmt.Errorf("media: encoding gif: %w", err)
	}
	return Image{ContentType: TypeGIF, Width: g.Config.Width, Height: g.Config.Height, Bytes: out.Bytes()}, nil
}

// shrinkGIF scales every frame to a logical screen of dw x dh by nearest
// neighbour on the palette indices: the palettes and the transparent index
// stay exact, and frames that tiled the screen still tile it because every
// edge goes through the same mapping.
func shrinkGIF(g *gif.GIF, dw, dh int) {
	sw, sh := g.Config.Width, g.Config.Height
	mapX := func(x int) int { return x * dw / sw }
	mapY := func(y int) int { return y * dh / sh }
	for i, f := range g.Image {
		fb := f.Rect
		r := image.Rect(mapX(fb.Min.X), mapY(fb.Min.Y), mapX(fb.Max.X), mapY(fb.Max.Y))
		// A frame thinner than the scale keeps one pixel rather than vanish.
		if r.Dx() == 0 {
			r.Min.X = min(r.Min.X, dw-1)
			r.Max.X = r.Min.X + 1
		}
		if r.Dy() == 0 {
			r.Min.Y = min(r.Min.Y, dh-1)
			r.Max.Y = r.Min.Y + 1
		}
		scaled := image.NewPaletted(r, f.Palette)
		for y := r.Min.Y; y < r.Max.Y; y++ {
			sy := min(fb.Max.Y-1, max(fb.Min.Y, (2*y+1)*sh/(2*dh)))
			for x := r.Min.X; x < r.Max.X; x++ {
				sx := min(fb.Max.X-1, max(fb.Min.X, (2*x+1)*sw/(2*dw)))
				scaled.Pix[scaled.PixOffset(x, y)] = f.Pix[f.PixOffset(sx, sy)]
			}
		}
		g.Image[i] = scaled
	}
	g.Config.Width, g.Config.Height = dw, dh
}
