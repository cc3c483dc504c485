package media

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	stddraw "image/draw"
	"image/gif"
	"image/jpeg"
	"image/png"

	"golang.org/x/image/draw"
)

// Avatar makes the square profile picture from an image's bytes (normally
// Clean's output): the centred square, scaled to AvatarSide, in the same
// format, except WebP which becomes PNG for want of an encoder. A GIF avatar
// is its first frame.
func Avatar(b []byte) (Image, error) {
	kind := sniff(b)
	m, err := decodeStill(kind, b)
	if err != nil {
		return Image{}, err
	}
	sb := m.Bounds()
	side := min(sb.Dx(), sb.Dy())
	crop := image.Rect(0, 0, side, side).Add(sb.Min).Add(image.Pt((sb.Dx()-side)/2, (sb.Dy()-side)/2))
	square := image.NewRGBA(image.Rect(0, 0, AvatarSide, AvatarSide))
	draw.CatmullRom.Scale(square, square.Rect, m, crop, draw.Src, nil)
	if o, ok := m.(interface{ Opaque() bool }); !ok || !o.Opaque() {
		clampPremultiplied(square)
	}

	var out bytes.Buffer
	switch kind {
	case TypeJPEG:
		err = jpeg.Encode(&out, square, &jpeg.Options{Quality: jpegQuality})
	case TypeGIF:
		err = gif.Encode(&out, quantize(square, m), nil)
	default:
		kind = TypePNG
		err = png.Encode(&out, square)
	}
	if err != nil {
		return Image{}, fmt.Errorf("media: encoding avatar: %w", err)
	}
	return Image{ContentType: kind, Width: AvatarSide, Height: AvatarSide, Bytes: out.Bytes()}, nil
}

// quantize maps m back onto the source GIF frame's palette, with
// Floyd-Steinberg dithering so the smoothed edges do not band.
func quantize(m *image.RGBA, source image.Image) *image.Paletted {
	palette := color.Palette{color.Black, color.White}
	if p, ok := source.(*image.Paletted); ok && len(p.Palette) > 0 {
		palette = p.Palette
	}
	out := image.NewPaletted(m.Rect, palette)
	stddraw.FloydSteinberg.Draw(out, out.Rect, m, image.Point{})
	return out
}
