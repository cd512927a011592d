package spec

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/vigil-sec/vigil/internal/api"
)

// FormToJSON builds the JSON request body of action from the flattened
// parameters of a form-encoded request — what the official command-line
// client (legacy HmacSHA256 signature) and the Go SDK's GET requests send:
//
//	Limit=10  Filters.0.Name=HostId  Filters.0.Values.1=x  ImageInfo.ImageName=y  Ids.0=1
//
// The caller removes the common parameters (Action, Version, Region,
// Timestamp, Nonce, SecretId, SignatureMethod, Signature, Token, Language,
// RequestClient) first. Values are typed by the schema: integers are parsed
// per their declared width, booleans are true/false (any letter case: the
// Python-based client sends True/False), floats must be JSON numbers, strings
// are taken verbatim. List indices must run 0..n-1 without gaps.
//
// The result is well-typed JSON, but required members are not checked here:
// pass it through Validate like any JSON body.
func (s *Schema) FormToJSON(action string, params url.Values) ([]byte, error) {
	a, ok := s.actions[action]
	if !ok {
		return nil, s.errNoAction(action)
	}
	root := newFormNode(&valueType{kind: kindObject, obj: a.input}, "")
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	slices.Sort(keys) // errors must not depend on map order
	for _, key := range keys {
		switch vals := params[key]; len(vals) {
		case 0:
			continue
		case 1:
			if err := root.insert(key, vals[0]); err != nil {
				return nil, err
			}
		default:
			return nil, api.NewError(api.InvalidParameter,
				fmt.Sprintf("The parameter `%s` is given more than once.", clip(key)),
				fmt.Sprintf("参数 `%s` 重复出现。", clip(key)))
		}
	}
	return root.encode(make([]byte, 0, 256))
}

// formNode is one value of the tree FormToJSON builds before encoding it.
type formNode struct {
	typ     *valueType
	name    string            // flattened name: "Filters.0"
	fields  []*formNode       // kindObject: by member index
	items   map[int]*formNode // kindList: by index
	literal []byte            // scalars: the JSON literal
}

func newFormNode(t *valueType, name string) *formNode {
	n := &formNode{typ: t, name: name}
	switch t.kind {
	case kindObject:
		n.fields = make([]*formNode, len(t.obj.fields))
	case kindList:
		n.items = make(map[int]*formNode)
	}
	return n
}

func joinName(parent, seg string) string {
	if parent == "" {
		return seg
	}
	return parent + "." + seg
}

// insert places value at the flattened name key below the root n.
func (n *formNode) insert(key, value string) error {
	segs := strings.Split(key, ".")
	if len(segs) > MaxDepth {
		return api.NewError(api.InvalidParameter,
			fmt.Sprintf("The parameter `%s` is nested more than %d levels deep.", clip(key), MaxDepth),
			fmt.Sprintf("参数 `%s` 嵌套超过 %d 层。", clip(key), MaxDepth))
	}
	for _, seg := range segs {
		switch n.typ.kind {
		case kindObject:
			f := n.typ.obj.byName[seg]
			if f == nil {
				return api.ErrUnknownParameter(clip(key))
			}
			if n.fields[f.index] == nil {
				n.fields[f.index] = newFormNode(f.typ, joinName(n.name, seg))
			}
			n = n.fields[f.index]
		case kindList:
			i, ok := parseIndex(seg)
			if !ok {
				return api.NewError(api.InvalidParameter,
					fmt.Sprintf("The parameter `%s` is not valid: the elements of the list `%s` are named `%s.0`, `%s.1`, ….", clip(key), n.name, n.name, n.name),
					fmt.Sprintf("参数 `%s` 格式错误：列表 `%s` 的元素应写作 `%s.0`、`%s.1`……", clip(key), n.name, n.name, n.name))
			}
			if n.items[i] == nil {
				n.items[i] = newFormNode(n.typ.elem, joinName(n.name, seg))
			}
			n = n.items[i]
		default: // a scalar has no members
			return api.ErrUnknownParameter(clip(key))
		}
	}
	switch n.typ.kind {
	case kindObject:
		return api.NewError(api.InvalidParameter,
			fmt.Sprintf("The parameter `%s` is an object: send its members as `%s.Name`.", n.name, n.name),
			fmt.Sprintf("参数 `%s` 是对象，应按成员传入，如 `%s.Name`。", n.name, n.name))
	case kindList:
		return api.NewError(api.InvalidParameter,
			fmt.Sprintf("The parameter `%s` is a list: send its elements as `%s.0`, `%s.1`, ….", n.name, n.name, n.name),
			fmt.Sprintf("参数 `%s` 是列表，应按元素传入，如 `%s.0`、`%s.1`……", n.name, n.name, n.name))
	}
	lit, err := formLiteral(n.typ, value, n.name)
	if err != nil {
		return err
	}
	n.literal = lit
	return nil
}

// parseIndex parses a list index: decimal, no sign, no leading zero, so
// that every element has exactly one name.
func parseIndex(seg string) (int, bool) {
	if seg == "" || len(seg) > 9 || (seg[0] == '0' && len(seg) > 1) {
		return 0, false
	}
	i, err := strconv.Atoi(seg)
	if err != nil || i < 0 || seg[0] == '+' {
		return 0, false
	}
	return i, true
}

// formLiteral converts a form value to the JSON literal of scalar type t.
func formLiteral(t *valueType, value, name string) ([]byte, error) {
	invalid := func() error {
		en, zh := describe(t)
		return api.NewError(api.InvalidParameter,
			fmt.Sprintf("The parameter `%s` must be %s.", name, en),
			fmt.Sprintf("参数 `%s` 格式错误，应为%s。", name, zh))
	}
	switch t.kind {
	case kindString:
		return appendJSONString(nil, value), nil
	case kindBool:
		switch {
		case strings.EqualFold(value, "true"):
			return []byte("true"), nil
		case strings.EqualFold(value, "false"):
			return []byte("false"), nil
		}
		return nil, invalid()
	case kindInt64, kindUint64:
		lit := []byte(value)
		if !isIntegerLiteral(lit) {
			return nil, invalid()
		}
		if en, zh, bad := rangeProblem(t.kind, lit); bad {
			return nil, api.ErrInvalidParameterValue(name, en, zh)
		}
		u, _ := parseMagnitude(lit)
		out := strconv.AppendUint(nil, u, 10)
		if lit[0] == '-' && u != 0 {
			out = append([]byte{'-'}, out...)
		}
		return out, nil
	case kindFloat:
		// Only a JSON number literal: strconv alone would also take "NaN",
		// "Inf" and hex floats, which are not JSON.
		lit := []byte(value)
		if len(lit) == 0 || !(lit[0] == '-' || isDigit(lit[0])) || !isDigit(lit[len(lit)-1]) || !json.Valid(lit) {
			return nil, invalid()
		}
		if _, err := strconv.ParseFloat(value, 64); err != nil {
			return nil, errFloatRange(name)
		}
		return lit, nil
	}
	return nil, invalid()
}

// encode appends the JSON of n to b: object members in definition order.
func (n *formNode) encode(b []byte) ([]byte, error) {
	var err error
	switch n.typ.kind {
	case kindObject:
		b = append(b, '{')
		first := true
		for i, c := range n.fields {
			if c == nil {
				continue
			}
			if !first {
				b = append(b, ',')
			}
			first = false
			b = appendJSONString(b, n.typ.obj.fields[i].name)
			b = append(b, ':')
			if b, err = c.encode(b); err != nil {
				return nil, err
			}
		}
		return append(b, '}'), nil
	case kindList:
		b = append(b, '[')
		for i := range len(n.items) {
			c := n.items[i]
			if c == nil {
				name := joinName(n.name, strconv.Itoa(i))
				return nil, api.NewError(api.InvalidParameter,
					fmt.Sprintf("The elements of the list `%s` must be numbered from 0 without gaps: `%s` is missing.", n.name, name),
					fmt.Sprintf("列表 `%s` 的元素须从 0 开始连续编号：缺少 `%s`。", n.name, name))
			}
			if i > 0 {
				b = append(b, ',')
			}
			if b, err = c.encode(b); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	}
	return append(b, n.literal...), nil
}

func appendJSONString(b []byte, s string) []byte {
	q, _ := json.Marshal(s) // cannot fail for a string
	return append(b, q...)
}
