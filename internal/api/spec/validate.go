package spec

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/vigil-sec/vigil/internal/api"
)

// MaxDepth is the deepest nesting of objects and lists Validate accepts,
// counted in path segments (Filters.0.Values.1 is four).
const MaxDepth = 32

// maxNameInMessage caps how much of a caller-supplied name an error echoes.
const maxNameInMessage = 128

// Validate checks body, the raw JSON request body of action, against the
// schema. On success it returns the body to decode into the action's request
// type: body itself, unless a leniency (leniencies.go) rewrote a value to its
// declared type, or body is empty or only white space, which means {}.
// Accepting allocates nothing unless a value is rewritten; the result may
// share body's memory.
//
// Rules: the body is a JSON object; every member, at any depth, is defined
// (UnknownParameter) and given once; required members are present and not
// null (MissingParameter); every value has its declared JSON type
// (InvalidParameter); integers are written without fraction or exponent and
// fit their declared width and sign (InvalidParameterValue otherwise); list
// elements are never null. Errors are *api.Error naming the full parameter
// path, e.g. "Filters.0.Values.1".
func (s *Schema) Validate(action string, body []byte) ([]byte, error) {
	a, ok := s.actions[action]
	if !ok {
		return nil, s.errNoAction(action)
	}
	start := skipSpace(body, 0)
	if start == len(body) {
		body, start = []byte("{}"), 0
	} else if !json.Valid(body) {
		return nil, errSyntax(body)
	}
	if body[start] != '{' {
		return nil, api.NewError(api.InvalidParameter,
			"The request body must be a JSON object.",
			"请求体必须是 JSON 对象。")
	}
	v := validator{body: body, pos: start}
	if err := v.object(a.input); err != nil {
		return nil, err
	}
	if len(v.edits) == 0 {
		return body, nil
	}
	return v.rewritten(), nil
}

func (s *Schema) errNoAction(name string) *api.Error {
	name = clip(name)
	return api.NewError(api.InvalidAction,
		fmt.Sprintf("The action `%s` does not exist in %s %s.", name, s.def.Service, s.def.Version),
		fmt.Sprintf("接口 `%s` 在 %s %s 中不存在。", name, s.def.Service, s.def.Version))
}

// errSyntax describes why body is not JSON. Only called once json.Valid has
// failed; decoding into a RawMessage reports the position without building a
// value tree.
func errSyntax(body []byte) *api.Error {
	var raw json.RawMessage
	err := json.Unmarshal(body, &raw)
	detail := "malformed JSON"
	var se *json.SyntaxError
	if errors.As(err, &se) {
		detail = fmt.Sprintf("%s (at byte %d)", se.Error(), se.Offset)
	}
	return api.NewError(api.InvalidParameter,
		"The request body is not valid JSON: "+detail+".",
		"请求体不是合法的 JSON："+detail+"。").Wrap(err)
}

// validator walks a body that json.Valid has accepted, so it never meets a
// syntax error: it only looks at the bytes it needs to decide types, and
// allocates nothing unless it reports an error or rewrites a value.
type validator struct {
	body  []byte
	pos   int
	path  [MaxDepth]segment
	depth int
	edits []edit
}

// segment is one step of a parameter path: a member name, or a list index when name is "".
type segment struct {
	name  string
	index int
}

// edit replaces body[start:end] with text.
type edit struct {
	start, end int
	text       string
}

func (v *validator) rewritten() []byte {
	n := len(v.body)
	for _, e := range v.edits {
		n += len(e.text) - (e.end - e.start)
	}
	out := make([]byte, 0, n)
	last := 0
	for _, e := range v.edits { // recorded in body order
		out = append(out, v.body[last:e.start]...)
		out = append(out, e.text...)
		last = e.end
	}
	return append(out, v.body[last:]...)
}

func (v *validator) push(seg segment) error {
	if v.depth == MaxDepth {
		return api.NewError(api.InvalidParameter,
			fmt.Sprintf("The parameter `%s` is nested more than %d levels deep.", v.pathString(), MaxDepth),
			fmt.Sprintf("参数 `%s` 嵌套超过 %d 层。", v.pathString(), MaxDepth))
	}
	v.path[v.depth] = seg
	v.depth++
	return nil
}

func (v *validator) pop() { v.depth-- }

// pathString is the current parameter path, e.g. "Filters.0.Values".
func (v *validator) pathString() string {
	var b strings.Builder
	for i, seg := range v.path[:v.depth] {
		if i > 0 {
			b.WriteByte('.')
		}
		if seg.name != "" {
			b.WriteString(seg.name)
		} else {
			b.WriteString(strconv.Itoa(seg.index))
		}
	}
	return b.String()
}

// childPath is the path of member name of the current object.
func (v *validator) childPath(name string) string {
	if v.depth == 0 {
		return name
	}
	return v.pathString() + "." + name
}

func (v *validator) skipSpace() { v.pos = skipSpace(v.body, v.pos) }

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// object checks the object starting at v.pos ('{') against o.
func (v *validator) object(o *object) error {
	v.pos++
	var seen, present bitset
	seen.init(len(o.fields))
	present.init(len(o.fields))
	v.skipSpace()
	if v.body[v.pos] == '}' {
		v.pos++
		return v.checkRequired(o, &present)
	}
	for {
		v.skipSpace()
		f, err := v.member(o)
		if err != nil {
			return err
		}
		if seen.has(f.index) {
			return api.NewError(api.InvalidParameter,
				fmt.Sprintf("The parameter `%s` is given more than once.", v.childPath(f.name)),
				fmt.Sprintf("参数 `%s` 重复出现。", v.childPath(f.name)))
		}
		seen.set(f.index)
		v.skipSpace()
		v.pos++ // ':'
		v.skipSpace()
		if v.body[v.pos] == 'n' { // null: as if absent
			v.pos += len("null")
		} else {
			present.set(f.index)
			if err := v.push(segment{name: f.name}); err != nil {
				return err
			}
			if err := v.value(f.typ, f.lenient); err != nil {
				return err
			}
			v.pop()
		}
		v.skipSpace()
		c := v.body[v.pos]
		v.pos++
		if c == '}' {
			return v.checkRequired(o, &present)
		}
		// c == ','
	}
}

// member reads a member name at v.pos and resolves it in o.
func (v *validator) member(o *object) (*field, error) {
	start := v.pos
	escaped := v.skipString()
	raw := v.body[start+1 : v.pos-1]
	if f := o.byName[string(raw)]; f != nil {
		return f, nil
	}
	name := string(raw)
	if escaped {
		// A name spelled with escapes ("\u004cimit") decodes to the same
		// field in encoding/json, so it must resolve to it here too.
		if err := json.Unmarshal(v.body[start:v.pos], &name); err == nil {
			if f := o.byName[name]; f != nil {
				return f, nil
			}
		}
	}
	return nil, api.ErrUnknownParameter(v.childPath(clip(name)))
}

func (v *validator) checkRequired(o *object, present *bitset) error {
	for _, i := range o.required {
		if !present.has(i) {
			return api.ErrMissingParameter(v.childPath(o.fields[i].name))
		}
	}
	return nil
}

// skipString moves past the string at v.pos and reports whether it holds escapes.
func (v *validator) skipString() (escaped bool) {
	i := v.pos + 1
	for {
		switch v.body[i] {
		case '\\':
			escaped = true
			i += 2
			continue
		case '"':
			v.pos = i + 1
			return escaped
		}
		i++
	}
}

// value checks the non-null value at v.pos against t; lenient widens the
// accepted JSON types of scalars (see leniencies.go).
func (v *validator) value(t *valueType, lenient lenientKind) error {
	c := v.body[v.pos]
	switch t.kind {
	case kindObject:
		if c != '{' {
			return v.errType(t)
		}
		return v.object(t.obj)
	case kindList:
		if c != '[' {
			return v.errType(t)
		}
		return v.list(t, lenient)
	case kindString:
		switch {
		case c == '"':
			v.skipString()
			return nil
		case lenient == boolAsString && (c == 't' || c == 'f'):
			lit := "true"
			if c == 'f' {
				lit = "false"
			}
			v.edits = append(v.edits, edit{v.pos, v.pos + len(lit), `"` + lit + `"`})
			v.pos += len(lit)
			return nil
		}
		return v.errType(t)
	case kindInt64, kindUint64:
		switch {
		case c == '-' || isDigit(c):
			return v.integer(t.kind)
		case c == '"' && lenient == stringAsInteger:
			return v.quotedInteger(t.kind)
		}
		return v.errType(t)
	case kindFloat:
		if c != '-' && !isDigit(c) {
			return v.errType(t)
		}
		start := v.pos
		v.skipNumber()
		// encoding/json rejects what does not fit a float64 (1e400).
		if _, err := strconv.ParseFloat(string(v.body[start:v.pos]), 64); err != nil {
			return errFloatRange(v.pathString())
		}
		return nil
	case kindBool:
		switch c {
		case 't':
			v.pos += len("true")
			return nil
		case 'f':
			v.pos += len("false")
			return nil
		}
		return v.errType(t)
	}
	return fmt.Errorf("spec: unknown kind %d", t.kind) // unreachable: New checks every type
}

func (v *validator) list(t *valueType, lenient lenientKind) error {
	v.pos++ // '['
	v.skipSpace()
	if v.body[v.pos] == ']' {
		v.pos++
		return nil
	}
	for i := 0; ; i++ {
		v.skipSpace()
		if err := v.push(segment{index: i}); err != nil {
			return err
		}
		if v.body[v.pos] == 'n' { // a null element would decode to a nil pointer
			return v.errType(t.elem)
		}
		if err := v.value(t.elem, lenient); err != nil {
			return err
		}
		v.pop()
		v.skipSpace()
		c := v.body[v.pos]
		v.pos++
		if c == ']' {
			return nil
		}
	}
}

func (v *validator) skipNumber() {
	i := v.pos
	for i < len(v.body) {
		c := v.body[i]
		if !isDigit(c) && c != '-' && c != '+' && c != '.' && c != 'e' && c != 'E' {
			break
		}
		i++
	}
	v.pos = i
}

// integer checks the JSON number at v.pos as an integer of kind k.
func (v *validator) integer(k kind) error {
	start := v.pos
	v.skipNumber()
	lit := v.body[start:v.pos]
	for _, c := range lit {
		if c == '.' || c == 'e' || c == 'E' {
			return v.errType(&valueType{kind: k})
		}
	}
	return v.checkRange(k, lit)
}

// quotedInteger checks a string standing in for an integer (stringAsInteger)
// and records its rewrite to the bare number.
func (v *validator) quotedInteger(k kind) error {
	start := v.pos
	escaped := v.skipString()
	digits := v.body[start+1 : v.pos-1]
	if escaped || !isIntegerLiteral(digits) {
		return v.errType(&valueType{kind: k})
	}
	if err := v.checkRange(k, digits); err != nil {
		return err
	}
	neg := digits[0] == '-'
	u, _ := parseMagnitude(digits)
	text := strconv.FormatUint(u, 10)
	if neg && u != 0 {
		text = "-" + text
	}
	v.edits = append(v.edits, edit{start, v.pos, text})
	return nil
}

// isIntegerLiteral reports whether b is -?[0-9]+.
func isIntegerLiteral(b []byte) bool {
	if len(b) > 0 && b[0] == '-' {
		b = b[1:]
	}
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if !isDigit(c) {
			return false
		}
	}
	return true
}

// parseMagnitude parses the digits of lit (after an optional '-') and reports overflow of uint64.
func parseMagnitude(lit []byte) (u uint64, overflow bool) {
	if len(lit) > 0 && lit[0] == '-' {
		lit = lit[1:]
	}
	for _, c := range lit {
		d := uint64(c - '0')
		if u > (math.MaxUint64-d)/10 {
			return 0, true
		}
		u = u*10 + d
	}
	return u, false
}

// checkRange checks the integer literal lit (-?[0-9]+) against the width and sign of k.
func (v *validator) checkRange(k kind, lit []byte) error {
	if en, zh, bad := rangeProblem(k, lit); bad {
		return api.ErrInvalidParameterValue(v.pathString(), en, zh)
	}
	return nil
}

// rangeProblem says why the integer literal lit (-?[0-9]+) does not fit k, if it does not.
func rangeProblem(k kind, lit []byte) (en, zh string, bad bool) {
	neg := lit[0] == '-'
	u, overflow := parseMagnitude(lit)
	if k == kindUint64 {
		switch {
		case neg: // "-0" too: encoding/json refuses it for unsigned fields
			return "it must not be negative.", "不能为负数。", true
		case overflow:
			return "the number is out of the range of a 64-bit unsigned integer.", "数值超出 64 位无符号整数范围。", true
		}
		return "", "", false
	}
	limit := uint64(math.MaxInt64)
	if neg {
		limit++
	}
	if overflow || u > limit {
		return "the number is out of the range of a 64-bit signed integer.", "数值超出 64 位有符号整数范围。", true
	}
	return "", "", false
}

func errFloatRange(name string) *api.Error {
	return api.ErrInvalidParameterValue(name,
		"the number is out of the range of a 64-bit float.",
		"数值超出 64 位浮点数范围。")
}

// errType is the wrong-JSON-type error for the value at the current path.
func (v *validator) errType(want *valueType) *api.Error {
	en, zh := describe(want)
	path := v.pathString()
	return api.NewError(api.InvalidParameter,
		fmt.Sprintf("The parameter `%s` must be %s.", path, en),
		fmt.Sprintf("参数 `%s` 格式错误，应为%s。", path, zh))
}

// describe names a type in error messages, in English and Chinese.
func describe(t *valueType) (en, zh string) {
	switch t.kind {
	case kindString:
		return "a string", "字符串"
	case kindInt64:
		return "an integer (int64, without fraction or exponent)", "整数（int64，不含小数或指数）"
	case kindUint64:
		return "a non-negative integer (uint64, without fraction or exponent)", "非负整数（uint64，不含小数或指数）"
	case kindBool:
		return "a boolean (true or false)", "布尔值（true 或 false）"
	case kindFloat:
		return "a number", "数字"
	case kindList:
		en, zh := describe(t.elem)
		return "a list, each element " + en, "列表，每个元素为" + zh
	case kindObject:
		return "an object (" + t.obj.name + ")", "对象（" + t.obj.name + "）"
	}
	return "valid", "合法值"
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// clip shortens caller-supplied names echoed in error messages.
func clip(s string) string {
	if len(s) <= maxNameInMessage {
		return s
	}
	cut := maxNameInMessage
	for cut > 0 && s[cut]&0xC0 == 0x80 { // do not split a UTF-8 sequence
		cut--
	}
	return s[:cut] + "…"
}

// bitset tracks members by index; objects rarely have more than 64.
type bitset struct {
	small uint64
	large []uint64
}

func (b *bitset) init(n int) {
	if n > 64 {
		b.large = make([]uint64, (n+63)/64)
	}
}

func (b *bitset) set(i int) {
	if b.large == nil {
		b.small |= 1 << uint(i)
		return
	}
	b.large[i/64] |= 1 << uint(i%64)
}

func (b *bitset) has(i int) bool {
	if b.large == nil {
		return b.small&(1<<uint(i)) != 0
	}
	return b.large[i/64]&(1<<uint(i%64)) != 0
}
