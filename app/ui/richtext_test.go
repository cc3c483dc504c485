package ui

import (
	"reflect"
	"testing"
)

func TestSegments(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []segment
	}{
		{"plain text", []segment{{Text: "plain text"}}},
		{"see https://example.com/a?b=1.", []segment{
			{Text: "see "}, {Text: "https://example.com/a?b=1", Href: "https://example.com/a?b=1", Kind: segLink}, {Text: "."}}},
		{"(http://x.org/wiki/A_(b)) ok", []segment{
			{Text: "("}, {Text: "http://x.org/wiki/A_(b)", Href: "http://x.org/wiki/A_(b)", Kind: segLink}, {Text: ") ok"}}},
		{"javascript:alert(1) ftp://x.org", []segment{{Text: "javascript:alert(1) ftp://x.org"}}},
		{"xhttps://x.org", []segment{{Text: "xhttps://x.org"}}},
		{"https:// nothing", []segment{{Text: "https:// nothing"}}},
		{"hi @Bob.", []segment{{Text: "hi "}, {Text: "@Bob", Href: "/u/bob", Kind: segMention}, {Text: "."}}},
		{"@al-ice- and mail a@bob.com, @xy", []segment{
			{Text: "@al-ice", Href: "/u/al-ice", Kind: segMention}, {Text: "- and mail a@bob.com, @xy"}}},
		{"ünïcode @carol_1 ✓", []segment{{Text: "ünïcode "}, {Text: "@carol_1", Href: "/u/carol_1", Kind: segMention}, {Text: " ✓"}}},
		{`<a href="https://e.vil/">`, []segment{
			{Text: `<a href="`}, {Text: "https://e.vil/", Href: "https://e.vil/", Kind: segLink}, {Text: `">`}}},
	} {
		if got := segments(c.in); !reflect.DeepEqual(got, c.want) {
			t.Errorf("segments(%q)\n got %+v\nwant %+v", c.in, got, c.want)
		}
	}
}
