// Command icons draws the PNG icons (192 and 512 pixels) after icon.svg's
// design into app/site/web. The PNGs are committed: they change only when
// this program does, and builds and tests need no extra step.
//
//	go run ./app/cmd/icons [-out app/site/web]
package main

import (
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
)

var (
	accent = color.RGBA{0x33, 0x46, 0xc2, 0xff}
	white  = color.RGBA{0xff, 0xff, 0xff, 0xff}
)

// shape reports whether point (x, y) of the 512-unit design is inside.
type shape func(x, y float64) bool

func roundRect(x0, y0, w, h, r float64) shape {
	return func(x, y float64) bool {
		if x < x0 || y < y0 || x > x0+w || y > y0+h {
			return false
		}
		cx := min(max(x, x0+r), x0+w-r)
		cy := min(max(y, y0+r), y0+h-r)
		return (x-cx)*(x-cx)+(y-cy)*(y-cy) <= r*r
	}
}

func triangle(ax, ay, bx, by, cx, cy float64) shape {
	sign := func(px, py, qx, qy, rx, ry float64) float64 { return (px-rx)*(qy-ry) - (qx-rx)*(py-ry) }
	return func(x, y float64) bool {
		d1, d2, d3 := sign(x, y, ax, ay, bx, by), sign(x, y, bx, by, cx, cy), sign(x, y, cx, cy, ax, ay)
		neg := d1 < 0 || d2 < 0 || d3 < 0
		pos := d1 > 0 || d2 > 0 || d3 > 0
		return !(neg && pos)
	}
}

type layer struct {
	in shape
	c  color.RGBA
}

// The design fills the square (maskable icons are cut by the platform); the
// mark stays inside the central 80 % safe zone.
var layers = []layer{
	{roundRect(0, 0, 512, 512, 0), accent},
	{roundRect(112, 128, 288, 224, 36), white},
	{triangle(176, 340, 176, 408, 236, 352), white},
	{roundRect(160, 180, 192, 24, 12), accent},
	{roundRect(160, 228, 144, 24, 12), accent},
	{roundRect(160, 276, 168, 24, 12), color.RGBA{0x9c, 0xa6, 0xe2, 0xff}},
}

// draw renders at size with 4x4 supersampling for smooth edges.
func draw(size int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, size, size))
	const ss = 4
	scale := 512 / float64(size)
	for py := 0; py < size; py++ {
		for px := 0; px < size; px++ {
			var r, g, b int
			for sy := 0; sy < ss; sy++ {
				for sx := 0; sx < ss; sx++ {
					x := (float64(px) + (float64(sx)+0.5)/ss) * scale
					y := (float64(py) + (float64(sy)+0.5)/ss) * scale
					c := layers[0].c
					for _, l := range layers[1:] {
						if l.in(x, y) {
							c = l.c
						}
					}
					r, g, b = r+int(c.R), g+int(c.G), b+int(c.B)
				}
			}
			img.SetRGBA(px, py, color.RGBA{uint8(r / (ss * ss)), uint8(g / (ss * ss)), uint8(b / (ss * ss)), 0xff})
		}
	}
	return img
}

func main() {
	out := flag.String("out", "app/site/web", "directory to write icon-192.png and icon-512.png into")
	flag.Parse()
	for _, size := range []int{192, 512} {
		name := filepath.Join(*out, fmt.Sprintf("icon-%d.png", size))
		if err := write(name, draw(size)); err != nil {
			fmt.Fprintln(os.Stderr, "icons:", err)
			os.Exit(1)
		}
	}
}

func write(name string, img image.Image) error {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	enc := png.Encoder{CompressionLevel: png.BestCompression}
	if err := enc.Encode(f, img); err != nil {
		f.Close()
		return fmt.Errorf("encoding %s: %w", name, err)
	}
	return f.Close()
}
