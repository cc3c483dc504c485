package ui

import "github.com/maxence-charriere/go-app/v10/pkg/app"

// statusDot shows the live connection's state in colour and in words (the
// words are for screen readers and for people who do not see the colour).
type statusDot struct {
	app.Compo

	Status string
}

var statusLabels = map[string]string{
	"online":     "Live",
	"connecting": "Connecting…",
	"offline":    "Offline",
	"off":        "Off",
}

func (s *statusDot) Render() app.UI {
	label := statusLabels[s.Status]
	if label == "" {
		label = statusLabels["off"]
	}
	return app.Span().Class("pw-status pw-status-"+s.Status).Role("status").Body(
		app.Span().Class("pw-dot").Aria("hidden", "true"),
		app.Span().Class("pw-status-text").Text(label),
	)
}
