package server

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"strings"

	"github.com/vigil-sec/vigil/internal/api"
)

// Role is what a key may do.
type Role string

const (
	RoleAdmin    Role = "admin"    // every action
	RoleReadOnly Role = "readonly" // Describe* and Export* only
)

// Allows reports whether the role may call action.
func (r Role) Allows(action string) bool {
	switch r {
	case RoleAdmin:
		return true
	case RoleReadOnly:
		return strings.HasPrefix(action, "Describe") || strings.HasPrefix(action, "Export")
	}
	return false
}

// Call is one authenticated API call as a handler sees it.
type Call struct {
	RequestID string
	AccountID int64
	SecretID  string
	Role      Role
	Language  api.Language
	Region    string
	Service   string // "cwp" or "tcss"
	Version   string
	Action    string
	Logger    *slog.Logger
}

// Spec is one API version's machine-readable description: which actions
// exist and how their parameters are checked (generated from the spec files).
type Spec interface {
	Service() string
	Version() string
	HasAction(name string) bool
	// Validate checks a JSON request body against the action's input and
	// returns the body to decode (normalized when a documented leniency applied).
	Validate(action string, body []byte) ([]byte, error)
	// FormToJSON turns flattened legacy parameters (Filters.0.Name=…) into JSON.
	FormToJSON(action string, params url.Values) ([]byte, error)
}

// Response is what every generated *Response type implements.
type Response interface{ SetRequestId(string) }

type invokeFunc func(ctx context.Context, c *Call, body []byte) (Response, error)

type version struct {
	spec     Spec
	handlers map[string]invokeFunc
}

// Mux routes on (X-TC-Version, X-TC-Action): cwp and tcss share action names.
type Mux struct {
	versions map[string]*version
}

// NewMux returns a mux serving the given API versions.
func NewMux(specs ...Spec) *Mux {
	m := &Mux{versions: make(map[string]*version)}
	for _, s := range specs {
		m.versions[s.Version()] = &version{spec: s, handlers: make(map[string]invokeFunc)}
	}
	return m
}

// Handle registers the handler of one action. It panics at start-up on a
// programming error (unknown version or action, duplicate registration).
func Handle[Req any, Resp Response](m *Mux, ver, action string, h func(ctx context.Context, c *Call, req *Req) (Resp, error)) {
	v, ok := m.versions[ver]
	if !ok {
		panic(fmt.Sprintf("server: Handle(%s, %s): version not served", ver, action))
	}
	if !v.spec.HasAction(action) {
		panic(fmt.Sprintf("server: Handle(%s, %s): action not in the spec", ver, action))
	}
	if _, dup := v.handlers[action]; dup {
		panic(fmt.Sprintf("server: Handle(%s, %s): registered twice", ver, action))
	}
	v.handlers[action] = func(ctx context.Context, c *Call, body []byte) (Response, error) {
		req := new(Req)
		if err := json.Unmarshal(body, req); err != nil {
			// Validate already checked types; this is a mismatch between spec and types.
			return nil, api.NewError(api.InvalidParameter, "The request body could not be decoded: "+err.Error(), "请求体无法解析："+err.Error()).Wrap(err)
		}
		return h(ctx, c, req)
	}
}

// route finds the version and handler of a call; the error is the protocol's.
func (m *Mux) route(ver, action string) (*version, invokeFunc, error) {
	if ver == "" {
		return nil, nil, api.NewError(api.MissingParameter, "The parameter `Version` (X-TC-Version) is missing.", "缺少参数 `Version`（X-TC-Version）。")
	}
	v, ok := m.versions[ver]
	if !ok {
		return nil, nil, api.NewError(api.NoSuchVersion,
			fmt.Sprintf("The API version `%s` does not exist (served: 2018-02-28 cwp, 2020-11-01 tcss).", ver),
			fmt.Sprintf("接口版本 `%s` 不存在（支持 2018-02-28 cwp、2020-11-01 tcss）。", ver))
	}
	if action == "" {
		return nil, nil, api.NewError(api.MissingParameter, "The parameter `Action` (X-TC-Action) is missing.", "缺少参数 `Action`（X-TC-Action）。")
	}
	if !v.spec.HasAction(action) {
		return nil, nil, api.NewError(api.InvalidAction,
			fmt.Sprintf("The action `%s` does not exist in %s %s.", action, v.spec.Service(), ver),
			fmt.Sprintf("接口 `%s` 在 %s %s 中不存在。", action, v.spec.Service(), ver))
	}
	h := v.handlers[action]
	if h == nil {
		h = func(context.Context, *Call, []byte) (Response, error) {
			return nil, api.NewError(api.UnsupportedOperation,
				fmt.Sprintf("The action `%s` is not implemented by this vigil server yet.", action),
				fmt.Sprintf("当前 vigil 服务尚未实现接口 `%s`。", action))
		}
	}
	return v, h, nil
}
