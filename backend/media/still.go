package media

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"

	"golang.org/x/image/webp"
)

// jpegQuality keeps photos visually lossless at a fraction of the size.
const jpegQuality = 85

// deflateMaxRatio is the most deflate can expand its input (258 bytes from
// one 2-bit code is ~1032:1); lzwMaxRatio likewise bounds GIF's LZW (a
// 12-bit code for a string of at most 4096 bytes). A file smaller than its
// claimed pixels divided by these ratios must be truncated or lying, so it
// is refused before the decoder allocates the bitmap.
const (
	deflateMaxRatio = 1100
	lzwMaxRatio     = 4096
)

// checkStill checks the header of a JPEG, PNG, WebP or GIF before anything
// is decoded: a size within MaxPixels, and for PNG and GIF data that could
// really hold it.
func checkStill(kind string, data []byte) error {
	var decodeConfig func(io.Reader) (image.Config, error)
	switch kind {
	case TypeJPEG:
		decodeConfig = jpeg.DecodeConfig
	case TypePNG:
		decodeConfig = png.DecodeConfig
	case TypeGIF:
		decodeConfig = gif.DecodeConfig
	case TypeWebP:
		decodeConfig = webp.DecodeConfig
	default:
		return fmt.Errorf("%w: unknown signature", ErrNotImage)
	}
	cfg, err := decodeConfig(bytes.NewReader(data))
	if err != nil {
		return notImage(err)
	}
	if err := checkPixels(cfg.Width, cfg.Height); err != nil {
		return err
	}
	if kind == TypePNG {
		if err := checkPNGData(data, cfg.Width, cfg.Height); err != nil {
			return err
		}
	}
	if kind == TypeGIF {
		if _, err := scanGIF(data); err != nil {
			return err
		}
	}
	return nil
}

// decodeStill checks the header of a JPEG, PNG, WebP or GIF (first frame)
// and decodes it, applying a JPEG's EXIF orientation so the result is upright.
func decodeStill(kind string, data []byte) (image.Image, error) {
	if err := checkStill(kind, data); err != nil {
		return nil, err
	}
	decode := map[string]func(io.Reader) (image.Image, error){
		TypeJPEG: jpeg.Decode, TypePNG: png.Decode, TypeGIF: gif.Decode, TypeWebP: webp.Decode,
	}[kind]
	m, err := decode(bytes.NewReader(data))
	if err != nil {
		return nil, notImage(err)
	}
	if kind == TypeJPEG {
		m = orient(m, exifOrientation(data))
	}
	return m, nil
}

// cleanStill decodes a JPEG or PNG, downscales it to MaxSide and encodes it
// again with encode, which writes the image alone: image/jpeg no APP
// segments or comments; image/png IHDR, PLTE, tRNS, IDAT and IEND only, so
// tEXt, iTXt, zTXt, eXIf, iCCP and APNG animation chunks are left behind.
func cleanStill(kind, name string, data []byte, encode func(io.Writer, image.Image) error) (Image, error) {
	m, err := decodeStill(kind, data)
	if err != nil {
		return Image{}, err
	}
	b := m.Bounds()
	if dw, dh, shrink := fitSide(b.Dx(), b.Dy()); shrink {
		m = resize(m, dw, dh)
	}
	var out bytes.Buffer
	if err := encode(&out, m); err != nil {
		return Image{}, fmt.Errorf("media: encoding %s: %w", name, err)
	}
	return Image{ContentType: kind, Width: m.Bounds().Dx(), Height: m.Bounds().Dy(), Bytes: out.Bytes()}, nil
}

func writeJPEG(w io.Writer, m image.Image) error {
	return jpeg.Encode(w, m, &jpeg.Options{Quality: jpegQuality})
}

// checkPNGData refuses a PNG whose IHDR claims more raw scanline bytes than
// its whole file could inflate to.
func checkPNGData(data []byte, w, h int) error {
	if len(data) < 26 {
		return fmt.Errorf("%w: short png header", ErrNotImage)
	}
	depth, colorType := int64(data[24]), data[25]
	channels := map[byte]int64{0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[colorType]
	rowBytes := 1 + (int64(w)*depth*channels+7)/8
	if int64(h)*rowBytes > int64(len(data))*deflateMaxRatio {
		return fmt.Errorf("%w: png claims %dx%d but holds too little data", ErrNotImage, w, h)
	}
	return nil
}

// exifOrientation returns the orientation tag (1 to 8) of a JPEG's EXIF
// segment, or 1 when there is none or it cannot be read.
func exifOrientation(data []byte) int {
	i := 2 // after SOI
	for i+4 <= len(data) {
		if data[i] != 0xFF {
			return 1
		}
		marker := data[i+1]
		if marker == 0xFF { // fill byte
			i++
			continue
		}
		if marker == 0xDA || marker == 0xD9 { // start of scan, end of image
			return 1
		}
		n := int(binary.BigEndian.Uint16(data[i+2:]))
		if n < 2 || i+2+n > len(data) {
			return 1
		}
		seg := data[i+4 : i+2+n]
		if marker == 0xE1 && bytes.HasPrefix(seg, []byte("Exif\x00\x00")) {
			return tiffOrientation(seg[6:])
		}
		i += 2 + n
	}
	return 1
}

// tiffOrientation reads tag 0x0112 of IFD0 in a TIFF structure.
func tiffOrientation(t []byte) int {
	if len(t) < 8 {
		return 1
	}
	var bo binary.ByteOrder
	switch string(t[:2]) {
	case "II":
		bo = binary.LittleEndian
	case "MM":
		bo = binary.BigEndian
	default:
		return 1
	}
	if bo.Uint16(t[2:]) != 42 {
		return 1
	}
	ifd := int64(bo.Uint32(t[4:]))
	if ifd+2 > int64(len(t)) {
		return 1
	}
	count := int64(bo.Uint16(t[ifd:]))
	for e := range count {
		off := ifd + 2 + e*12
		if off+12 > int64(len(t)) {
			return 1
		}
		const tagOrientation, typeShort = 0x0112, 3
		if bo.Uint16(t[off:]) == tagOrientation && bo.Uint16(t[off+2:]) == typeShort {
			if v := int(bo.Uint16(t[off+8:])); v >= 1 && v <= 8 {
				return v
			}
			return 1
		}
	}
	return 1
}
