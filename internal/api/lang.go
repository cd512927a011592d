package api

// Language is the X-TC-Language of a request: it selects the language of error
// messages and of threat texts.
type Language string

const (
	Chinese Language = "zh-CN" // the default, as on Tencent Cloud
	English Language = "en-US"
)

// ParseLanguage maps the X-TC-Language header (or the legacy Language parameter)
// to a Language; anything unknown or empty is Chinese.
func ParseLanguage(s string) Language {
	switch s {
	case "en-US", "en", "en_US", "en-us":
		return English
	}
	return Chinese
}

// Pick returns en or zh according to l.
func (l Language) Pick(en, zh string) string {
	if l == English {
		return en
	}
	return zh
}
