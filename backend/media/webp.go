package media

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"golang.org/x/image/webp"
)

// WebP is cleaned without re-encoding: golang.org/x/image/webp decodes but
// cannot encode, so the RIFF container is rebuilt from its image-data chunks
// only (VP8, VP8L, ALPH, ANIM, ANMF) and every decoded part is checked. The
// pixels are untouched, which also means WebP is not downscaled.

// VP8X feature flags.
const (
	vp8xAnimation = 1 << 1
	vp8xXMP       = 1 << 2
	vp8xEXIF      = 1 << 3
	vp8xAlpha     = 1 << 4
	vp8xICC       = 1 << 5
)

type riffChunk struct {
	id   string
	data []byte
}

// readChunks splits a RIFF body into chunks, refusing sizes that overrun it.
func readChunks(b []byte) ([]riffChunk, error) {
	var chunks []riffChunk
	for len(b) > 0 {
		if len(b) < 8 {
			return nil, fmt.Errorf("%w: webp: truncated chunk header", ErrNotImage)
		}
		n := int64(binary.LittleEndian.Uint32(b[4:]))
		if 8+n > int64(len(b)) {
			return nil, fmt.Errorf("%w: webp: chunk %q overruns its container", ErrNotImage, b[:4])
		}
		chunks = append(chunks, riffChunk{id: string(b[:4]), data: b[8 : 8+n]})
		b = b[min(int64(len(b)), 8+n+n&1):] // chunks are padded to even sizes
	}
	return chunks, nil
}

// writeWebP assembles a RIFF WEBP file from chunks.
func writeWebP(chunks []riffChunk) []byte {
	size := 4
	for _, c := range chunks {
		size += 8 + len(c.data) + len(c.data)&1
	}
	out := make([]byte, 0, 8+size)
	out = append(out, "RIFF"...)
	out = binary.LittleEndian.AppendUint32(out, uint32(size))
	out = append(out, "WEBP"...)
	for _, c := range chunks {
		out = append(out, c.id...)
		out = binary.LittleEndian.AppendUint32(out, uint32(len(c.data)))
		out = append(out, c.data...)
		if len(c.data)&1 == 1 {
			out = append(out, 0)
		}
	}
	return out
}

func vp8xChunk(flags byte, w, h int) riffChunk {
	d := make([]byte, 10)
	d[0] = flags
	putUint24(d[4:], uint32(w-1))
	putUint24(d[7:], uint32(h-1))
	return riffChunk{id: "VP8X", data: d}
}

func putUint24(b []byte, v uint32) { b[0], b[1], b[2] = byte(v), byte(v>>8), byte(v>>16) }
func uint24(b []byte) int          { return int(b[0]) | int(b[1])<<8 | int(b[2])<<16 }

// stillChunks keeps, from a still image's chunks, the first ALPH (which only
// a lossy VP8 may use) and the first bitstream, in that order.
func stillChunks(chunks []riffChunk) (alpha, bitstream *riffChunk) {
	for i := range chunks {
		switch chunks[i].id {
		case "ALPH":
			if alpha == nil && bitstream == nil {
				alpha = &chunks[i]
			}
		case "VP8 ", "VP8L":
			if bitstream == nil {
				bitstream = &chunks[i]
			}
		}
	}
	if bitstream != nil && bitstream.id == "VP8L" {
		alpha = nil // VP8L carries its own alpha
	}
	return alpha, bitstream
}

// stillWebP builds a standalone file from an optional ALPH and a bitstream,
// to decode one animation frame.
func stillWebP(alpha, bitstream *riffChunk, w, h int) []byte {
	if alpha == nil {
		return writeWebP([]riffChunk{*bitstream})
	}
	return writeWebP([]riffChunk{vp8xChunk(vp8xAlpha, w, h), *alpha, *bitstream})
}

// validateWebP checks the header size and decodes the whole file.
func validateWebP(file []byte) (w, h int, err error) {
	cfg, err := webp.DecodeConfig(bytes.NewReader(file))
	if err != nil {
		return 0, 0, notImage(err)
	}
	if err := checkPixels(cfg.Width, cfg.Height); err != nil {
		return 0, 0, err
	}
	if _, err := webp.Decode(bytes.NewReader(file)); err != nil {
		return 0, 0, notImage(err)
	}
	return cfg.Width, cfg.Height, nil
}

func cleanWebP(data []byte) (Image, error) {
	riffSize := int64(binary.LittleEndian.Uint32(data[4:]))
	if riffSize < 4 || 8+riffSize > int64(len(data)) {
		return Image{}, fmt.Errorf("%w: webp: RIFF size does not match the file", ErrNotImage)
	}
	// Anything after the RIFF container is dropped with the rest.
	chunks, err := readChunks(data[12 : 8+riffSize])
	if err != nil {
		return Image{}, err
	}
	if len(chunks) == 0 {
		return Image{}, fmt.Errorf("%w: webp: no chunks", ErrNotImage)
	}
	first := chunks[0]
	switch {
	case first.id == "VP8 " || first.id == "VP8L":
		return finishStillWebP([]riffChunk{first})
	case first.id != "VP8X" || len(first.data) != 10:
		return Image{}, fmt.Errorf("%w: webp: unexpected first chunk %q", ErrNotImage, first.id)
	}
	flags := first.data[0]
	canvasW, canvasH := 1+uint24(first.data[4:]), 1+uint24(first.data[7:])
	if err := checkPixels(canvasW, canvasH); err != nil {
		return Image{}, err
	}
	if flags&vp8xAnimation != 0 {
		return cleanAnimatedWebP(chunks[1:], flags, canvasW, canvasH)
	}
	alpha, bitstream := stillChunks(chunks[1:])
	if bitstream == nil {
		return Image{}, fmt.Errorf("%w: webp: no image data", ErrNotImage)
	}
	// Keep the alpha flag only where there is alpha; drop ICC, EXIF, XMP.
	var keep byte
	if alpha != nil || (bitstream.id == "VP8L" && flags&vp8xAlpha != 0) {
		keep = vp8xAlpha
	}
	out := []riffChunk{vp8xChunk(keep, canvasW, canvasH)}
	if alpha != nil {
		out = append(out, *alpha)
	}
	return finishStillWebP(append(out, *bitstream))
}

func finishStillWebP(chunks []riffChunk) (Image, error) {
	file := writeWebP(chunks)
	w, h, err := validateWebP(file)
	if err != nil {
		return Image{}, err
	}
	return Image{ContentType: TypeWebP, Width: w, Height: h, Bytes: file}, nil
}

// cleanAnimatedWebP keeps ANIM and each ANMF frame's image data, decoding
// every frame on its own since x/image/webp does not decode animations.
func cleanAnimatedWebP(chunks []riffChunk, flags byte, canvasW, canvasH int) (Image, error) {
	out := []riffChunk{vp8xChunk(flags&(vp8xAnimation|vp8xAlpha), canvasW, canvasH)}
	var anim bool
	var frames int
	var area int64
	for _, c := range chunks {
		switch c.id {
		case "ANIM":
			if anim || len(c.data) != 6 {
				return Image{}, fmt.Errorf("%w: webp: bad ANIM chunk", ErrNotImage)
			}
			anim = true
			out = append(out, c)
		case "ANMF":
			if !anim || len(c.data) < 16 {
				return Image{}, fmt.Errorf("%w: webp: bad ANMF chunk", ErrNotImage)
			}
			x, y := 2*uint24(c.data[0:]), 2*uint24(c.data[3:])
			w, h := 1+uint24(c.data[6:]), 1+uint24(c.data[9:])
			if x+w > canvasW || y+h > canvasH {
				return Image{}, fmt.Errorf("%w: webp: frame outside the canvas", ErrNotImage)
			}
			frames++
			area += int64(w) * int64(h)
			if frames > maxFrames || area > maxFramePixels {
				return Image{}, fmt.Errorf("%w: webp animation over %d frames or %d pixels", ErrTooLarge, maxFrames, maxFramePixels)
			}
			inner, err := readChunks(c.data[16:])
			if err != nil {
				return Image{}, err
			}
			alpha, bitstream := stillChunks(inner)
			if bitstream == nil {
				return Image{}, fmt.Errorf("%w: webp: frame without image data", ErrNotImage)
			}
			fw, fh, err := validateWebP(stillWebP(alpha, bitstream, w, h))
			if err != nil {
				return Image{}, err
			}
			if fw != w || fh != h {
				return Image{}, fmt.Errorf("%w: webp: frame is %dx%d, header says %dx%d", ErrNotImage, fw, fh, w, h)
			}
			frame := append([]byte(nil), c.data[:16]...)
			for _, k := range []*riffChunk{alpha, bitstream} {
				if k != nil {
					frame = append(frame, writeWebP([]riffChunk{*k})[12:]...)
				}
			}
			out = append(out, riffChunk{id: "ANMF", data: frame})
		}
		// ICCP, EXIF, XMP and unknown chunks are dropped.
	}
	if frames == 0 {
		return Image{}, fmt.Errorf("%w: webp: animation without frames", ErrNotImage)
	}
	return Image{ContentType: TypeWebP, Width: canvasW, Height: canvasH, Bytes: writeWebP(out)}, nil
}
