// Command precompress writes FILE.br and FILE.gz next to each FILE given, at
// the highest levels: done once at build time, so the server never
// compresses app.wasm per request.
//
//	go run ./app/cmd/precompress app/site/web/app.wasm
package main

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"os"

	"github.com/andybalholm/brotli"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: precompress FILE...")
		os.Exit(2)
	}
	for _, name := range os.Args[1:] {
		if err := precompress(name); err != nil {
			fmt.Fprintln(os.Stderr, "precompress:", err)
			os.Exit(1)
		}
	}
}

func precompress(name string) error {
	raw, err := os.ReadFile(name)
	if err != nil {
		return err
	}
	var br bytes.Buffer
	bw := brotli.NewWriterLevel(&br, brotli.BestCompression)
	if _, err := bw.Write(raw); err != nil {
		return fmt.Errorf("brotli of %s: %w", name, err)
	}
	if err := bw.Close(); err != nil {
		return fmt.Errorf("brotli of %s: %w", name, err)
	}
	var gz bytes.Buffer
	gw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression) // a valid level: no error
	if _, err := gw.Write(raw); err != nil {
		return fmt.Errorf("gzip of %s: %w", name, err)
	}
	if err := gw.Close(); err != nil {
		return fmt.Errorf("gzip of %s: %w", name, err)
	}
	if err := os.WriteFile(name+".br", br.Bytes(), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(name+".gz", gz.Bytes(), 0o644); err != nil {
		return err
	}
	fmt.Printf("%s: %d bytes, brotli %d, gzip %d\n", name, len(raw), br.Len(), gz.Len())
	return nil
}
