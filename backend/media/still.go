package media

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"

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

// decodeStill checks the header of a JPEG, PNG, WebP or GIF (first frame)
// and decodes it, applying a JPEG's EXIF orientation so the result is upright.
func decodeStill(kind string, data []byte) (image.Image, error) {
	var decodeConfig func([]byte) (image.Config, error)
	var decode func([]byte) (image.Image, error)
	switch kind {
	case TypeJPEG:
		decodeConfig = func(b []byte) (image.Config, error) { return jpeg.DecodeConfig(bytes.NewReader(b)) }
		decode = func(b []byte) (image.Image, error) { return jpeg.Decode(bytes.NewReader(b)) }
	case TypePNG:
		decodeConfig = func(b []byte) (image.Config, error) { return png.DecodeConfig(bytes.NewReader(b)) }
		decode = func(b []byte) (image.Image, error) { return png.Decode(bytes.NewReader(b)) }
	case TypeGIF:
		decodeConfig = func(b []byte) (image.Config, error) { return gif.DecodeConfig(bytes.NewReader(b)) }
		decode = func(b []byte) (image.Image, error) { return gif.Decode(bytes.NewReader(b)) }
	case TypeWebP:
		decodeConfig = func(b []byte) (image.Config, error) { return webp.DecodeConfig(bytes.NewReader(b)) }
		decode = func(b []byte) (image.Image, error) { return webp.Decode(bytes.NewReader(b)) }
	default:
		return nil, fmt.Errorf("%w: unknown signature", ErrNotImage)
	}
	cfg, err := decodeConfig(data)
	if err != nil {
		return nil, notImage(err)
	}
	if err := checkPixels(cfg.Width, cfg.Height); err != nil {
		return nil, err
	}
	if kind == TypePNG {
		if err := checkPNGData(data, cfg.Width, cfg.Height); err != nil {
			return nil, err
		}
	}
	if kind == TypeGIF {
		if _, err := scanGIF(data); err != nil {
			return nil, err
		}
	}
	m, err := decode(data)
	if err != nil {
		return nil, notImage(err)
	}
	if kind == TypeJPEG {
		m = orient(m, exifOrientation(data))
	}
	return m, nil
}

func cleanJPEG(data []byte) (Image, error) {
	m, err := decodeStill(TypeJPEG, data)
	if err != nil {
		return Image{}, err
	}
	b := m.Bounds()
	if dw, dh, shrink := fitSide(b.Dx(), b.Dy()); shrink {
		m = resize(m, dw, dh)
	}
	var out bytes.Buffer
	// image/jpeg writes only the image: no APP segments, no comments.
	if err := jpeg.Encode(&out, m, &jpeg.Options{Quality: jpegQuality}); err != nil {
		return Image{}, fmt.Errorf("media: encoding jpeg: %w", err)
	}
	return Image{ContentType: TypeJPEG, Width: m.Bounds().Dx(), Height: m.Bounds().Dy(), Bytes: out.Bytes()}, nil
}

func cleanPNG(data []byte) (Image, error) {
	m, err := decodeStill(TypePNG, data)
	if err != nil {
		return Image{}, err
	}
	b := m.Bounds()
	if dw, dh, shrink := fitSide(b.Dx(), b.Dy()); shrink {
		m = resize(m, dw, dh)
	}
	var out bytes.Buffer
	// image/png writes IHDR, PLTE, tRNS, IDAT and IEND only: tEXt, iTXt,
	// zTXt, eXIf, iCCP and APNG animation chunks are all left behind.
	if err := png.Encode(&out, m); err != nil {
		return Image{}, fmt.Errorf("media: encoding png: %w", err)
	}
	return Image{ContentType: TypePNG, Width: m.Bounds().Dx(), Height: m.Bounds().Dy(), Bytes: out.Bytes()}, nil
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
