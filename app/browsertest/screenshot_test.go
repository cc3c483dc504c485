package browsertest

import (
	"context"
	"image/color"
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/cdproto/emulation"
	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// TestScreenshots writes the feed at phone and desktop sizes, light and dark,
// into the folder POSTWALL_SCREENSHOTS names:
//
//	POSTWALL_SCREENSHOTS=shots go test -run TestScreenshots ./app/browsertest
func TestScreenshots(t *testing.T) {
	dir := os.Getenv("POSTWALL_SCREENSHOTS")
	if dir == "" {
		t.Skip("set POSTWALL_SCREENSHOTS=DIR to write screenshots")
	}
	needBrowser(t)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	srv := startServer(t)
	b := startBrowser(t)
	writers := map[string][]string{
		"maya": {
			"Morning! Coffee is on, and the wall is live.",
			"Anyone up for a walk along the river at lunch?",
		},
		"jonas": {
			"Shipped the new release. Thanks to everyone who tested it over the weekend.",
			"Reminder: the team retro is moved to Thursday, 15:00.",
		},
		"li.wei": {
			"Posts show up for everyone the moment they are stored. Try it with two windows side by side.",
		},
	}
	order := []struct{ who, text string }{
		{"jonas", writers["jonas"][1]},
		{"maya", writers["maya"][1]},
		{"li.wei", writers["li.wei"][0]},
		{"jonas", writers["jonas"][0]},
		{"maya", writers["maya"][0]},
	}
	tokens := map[string]string{}
	for who := range writers {
		p := b.newPage(t, 1280, 800)
		p.signUp(srv.base, who)
		tokens[who] = p.tokens().AccessToken
	}
	seedProfile(t, srv.base, tokens["maya"], "Maya Okafor", portrait(t, color.RGBA{250, 214, 165, 255}, color.RGBA{170, 90, 60, 255}))
	seedProfile(t, srv.base, tokens["jonas"], "Jonas Berg", portrait(t, color.RGBA{190, 220, 245, 255}, color.RGBA{40, 80, 130, 255}))
	for _, o := range order {
		sendPosts(t, srv.base, tokens[o.who], o.text)
	}
	sendImagePost(t, srv.base, tokens["jonas"], "The view from the hill last night.", "Green hills under a dusk sky, the sun low on the right", landscape(t))
	reader := b.newPage(t, 1280, 800)
	reader.signUp(srv.base, "maya2")
	reader.waitJS("the posts", hasPost("The view from the hill last night."))
	reader.waitJS("the picture", `[...document.querySelectorAll(".pw-post img")].some(i => i.complete && i.naturalWidth > 0 && i.closest(".pw-images"))`)

	for _, size := range []struct {
		name          string
		width, height int64
		scale         float64 // a phone's dense screen; a desktop's plain one
	}{{"phone", 360, 740, 2}, {"desktop", 1280, 800, 1}} {
		for _, scheme := range []string{"light", "dark"} {
			var png []byte
			reader.run("taking "+size.name+" "+scheme,
				emulation.SetDeviceMetricsOverride(size.width, size.height, size.scale, size.width < 600),
				emulation.SetEmulatedMedia().WithFeatures([]*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}),
				chromedp.Evaluate(`window.scrollTo(0, 0); document.activeElement && document.activeElement.blur()`, nil),
				chromedp.ActionFunc(func(ctx context.Context) error {
					var err error
					png, err = cdppage.CaptureScreenshot().WithFormat(cdppage.CaptureScreenshotFormatPng).Do(ctx)
					return err
				}),
			)
			name := filepath.Join(dir, "feed-"+size.name+"-"+scheme+".png")
			if err := os.WriteFile(name, png, 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("wrote %s", name)
		}
	}
	reader.checkClean()
}
