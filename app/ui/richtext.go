package ui

import (
	"net/url"
	"strings"
	"unicode/utf8"
)

// segment is a piece of a post's text: plain, a link or a mention. Post text
// is shown through these as text nodes and anchors, never as markup.
type segment struct {
	Text string
	Href string // "" for plain text
	Kind int
}

const (
	segText = iota
	segLink
	segMention
)

// profilePath is where a person's page is.
func profilePath(name string) string { return "/u/" + url.PathEscape(strings.ToLower(name)) }

// segments splits text into plain runs, http(s) links and @mentions.
func segments(text string) []segment {
	var out []segment
	plain := 0 // start of the plain run not yet emitted
	flush := func(end int) {
		if end > plain {
			out = append(out, segment{Text: text[plain:end]})
		}
	}
	for i := 0; i < len(text); {
		if n := linkAt(text, i); n > 0 {
			flush(i)
			out = append(out, segment{Text: text[i : i+n], Href: text[i : i+n], Kind: segLink})
			i += n
			plain = i
			continue
		}
		if n := mentionAt(text, i); n > 0 {
			flush(i)
			out = append(out, segment{Text: text[i : i+n], Href: profilePath(text[i+1 : i+n]), Kind: segMention})
			i += n
			plain = i
			continue
		}
		_, size := utf8.DecodeRuneInString(text[i:])
		i += size
	}
	flush(len(text))
	return out
}

// linkAt is the length of the http or https address starting at i, or 0.
// Punctuation that ends a sentence is not part of it, nor a closing bracket
// it did not open.
func linkAt(text string, i int) int {
	if i > 0 && isWordByte(text[i-1]) {
		return 0
	}
	rest := text[i:]
	lower := strings.ToLower(rest[:min(len(rest), 8)])
	var scheme int
	switch {
	case strings.HasPrefix(lower, "https://"):
		scheme = 8
	case strings.HasPrefix(lower, "http://"):
		scheme = 7
	default:
		return 0
	}
	end := scheme
	for end < len(rest) {
		r, size := utf8.DecodeRuneInString(rest[end:])
		if r <= ' ' || r == '<' || r == '>' || r == '"' || r == '`' || r == utf8.RuneError || isSpace(r) {
			break
		}
		end += size
	}
	for end > scheme {
		c := rest[end-1]
		if strings.IndexByte(".,!?;:'*", c) >= 0 {
			end--
			continue
		}
		if c == ')' && strings.Count(rest[:end], "(") < strings.Count(rest[:end], ")") {
			end--
			continue
		}
		break
	}
	if end == scheme {
		return 0
	}
	u, err := url.Parse(rest[:end])
	if err != nil || u.Host == "" {
		return 0
	}
	return end
}

// mentionAt is the length of the @username starting at i (the @ included),
// or 0: a name runs as far as username characters go, less a trailing . or -.
func mentionAt(text string, i int) int {
	if text[i] != '@' || (i > 0 && (isWordByte(text[i-1]) || text[i-1] == '@')) {
		return 0
	}
	end := i + 1
	for end < len(text) && isUsernameByte(text[end]) {
		end++
	}
	for end > i+1 && (text[end-1] == '.' || text[end-1] == '-') {
		end--
	}
	if n := end - i - 1; n < 3 || n > 32 {
		return 0
	}
	return end - i
}

func isUsernameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-'
}

func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
}

func isSpace(r rune) bool {
	return strings.ContainsRune("\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000", r)
}
