// Command web writes the static site for Amplify Hosting from the
// environment: POSTWALL_API_URL, POSTWALL_WS_URL, POSTWALL_AUTH_URL,
// POSTWALL_CLIENT_ID, POSTWALL_REDIRECT_URI, POSTWALL_LOGOUT_URI and
// POSTWALL_VERSION; optionally POSTWALL_MEDIA_URL and POSTWALL_UPLOAD_URL
// (where images come from and upload forms go, for the page's policy).
//
//	go run ./app/cmd/web [-out build/web]
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/postwall/postwall/app/site"
)

func main() {
	out := flag.String("out", "build/web", "directory to write the static site into")
	flag.Parse()
	cfg := site.Config{
		APIURL:      os.Getenv("POSTWALL_API_URL"),
		WSURL:       os.Getenv("POSTWALL_WS_URL"),
		AuthURL:     os.Getenv("POSTWALL_AUTH_URL"),
		ClientID:    os.Getenv("POSTWALL_CLIENT_ID"),
		RedirectURI: os.Getenv("POSTWALL_REDIRECT_URI"),
		LogoutURI:   os.Getenv("POSTWALL_LOGOUT_URI"),
		Version:     os.Getenv("POSTWALL_VERSION"),
		MediaURL:    os.Getenv("POSTWALL_MEDIA_URL"),
		UploadURL:   os.Getenv("POSTWALL_UPLOAD_URL"),
	}
	if err := site.GenerateStatic(*out, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "web:", err)
		os.Exit(1)
	}
	fmt.Println("static site written to", *out)
	fmt.Println("serve it with the header Content-Security-Policy:", site.ContentSecurityPolicy(cfg))
}
