package media

import (
	"bytes"
	"image"
	"image/jpeg"
	"math/rand/v2"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"
)

var photo12MP = sync.OnceValue(func() []byte {
	// Smooth gradients with per-pixel noise: compresses like a real photo
	// (a few MB at quality 85) rather than like a flat test card.
	const w, h = 4000, 3000
	m := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
	rng := rand.New(rand.NewPCG(1, 2))
	for y := range h {
		for x := range w {
			base := (x*255/w + y*255/h) / 2
			m.Y[y*m.YStride+x] = uint8(min(255, max(0, base+rng.IntN(24)-12)))
		}
	}
	for y := range h / 2 {
		for x := range w / 2 {
			m.Cb[y*m.CStride+x] = uint8(96 + x*64/(w/2) + rng.IntN(6))
			m.Cr[y*m.CStride+x] = uint8(160 - y*64/(h/2) + rng.IntN(6))
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, m, &jpeg.Options{Quality: 85}); err != nil {
		panic(err)
	}
	return b.Bytes()
})

// peakHeap samples the live-plus-unswept heap while f runs, in MiB.
func peakHeap(f func()) float64 {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	var peak uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(sample)
			peak = max(peak, sample[0].Value.Uint64())
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	})
	f()
	close(done)
	wg.Wait()
	return float64(peak) / (1 << 20)
}

func benchmarkPhoto(b *testing.B, process func([]byte) error) {
	data := photo12MP()
	if len(data) > MaxUploadBytes {
		b.Fatalf("fixture is %d bytes, over the upload limit", len(data))
	}
	b.SetBytes(int64(len(data)))
	runtime.GC()
	b.ReportAllocs()
	b.ResetTimer()
	peak := peakHeap(func() {
		for b.Loop() {
			if err := process(data); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.ReportMetric(peak, "peak-heap-MiB")
}

// BenchmarkClean12MP is the whole processing step for a 4000x3000 photo:
// decode, downscale to 2048x1536, encode.
func BenchmarkClean12MP(b *testing.B) {
	benchmarkPhoto(b, func(data []byte) error {
		_, err := Clean(bytes.NewReader(data))
		return err
	})
}

// BenchmarkDecodeJPEG12MP is the floor: decoding the same file alone.
func BenchmarkDecodeJPEG12MP(b *testing.B) {
	benchmarkPhoto(b, func(data []byte) error {
		_, err := jpeg.Decode(bytes.NewReader(data))
		return err
	})
}

// BenchmarkAvatarFromCleaned12MP makes the avatar from Clean's output, as
// the pipeline does after Clean.
func BenchmarkAvatarFromCleaned12MP(b *testing.B) {
	cleaned, err := Clean(bytes.NewReader(photo12MP()))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Avatar(cleaned.Bytes); err != nil {
			b.Fatal(err)
		}
	}
}
