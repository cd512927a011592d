package main

import (
	"html"
	"regexp"
	"strings"
)

var (
	// docBreak matches the HTML that starts a new line in the descriptions' documents.
	docBreak = regexp.MustCompile(`(?i)<br\s*/?>|</?p\s*>|</li\s*>|</?ul\s*>|</?ol\s*>`)
	// docItem matches a list item's start.
	docItem = regexp.MustCompile(`(?i)<li\s*>`)
	// docTag matches the other HTML tags the documents use, by name, so
	// that text such as "a<c and d>e" survives.
	docTag = regexp.MustCompile(`(?i)</?(?:a|b|i|u|em|strong|span|div|code|pre|font|table|thead|tbody|tr|td|th|h[1-6]|sup|sub|img|hr)(?:\s[^<>]*)?/?>`)
)

// cleanDoc turns a description's HTML-ish document into Go doc comment lines:
// tags dropped, entities decoded, <br>/<p> as line breaks, <li> as "  - "
// list items, blank lines only between paragraphs, each line trimmed.
func cleanDoc(doc string) []string {
	doc = docItem.ReplaceAllString(doc, "\n\x00")
	doc = docBreak.ReplaceAllString(doc, "\n")
	doc = docTag.ReplaceAllString(doc, "")
	doc = html.UnescapeString(doc)
	var lines []string
	inList := false
	for _, l := range strings.Split(doc, "\n") {
		item := strings.HasPrefix(l, "\x00")
		l = strings.TrimSpace(strings.TrimPrefix(l, "\x00"))
		l = strings.Join(strings.Fields(l), " ") // tabs and runs of spaces would read as code blocks
		if l == "" {
			continue
		}
		switch {
		case item:
			if !inList && len(lines) > 0 {
				lines = append(lines, "")
			}
			lines = append(lines, "  - "+l)
		case inList:
			lines = append(lines, "", l)
		default:
			lines = append(lines, l)
		}
		inList = item
	}
	return lines
}
