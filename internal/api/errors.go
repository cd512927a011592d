package api

import (
	"errors"
	"fmt"
)

// Code is a Tencent Cloud API 3.0 error code ("AuthFailure.SignatureFailure").
// Sub-codes are "Code.Sub".
type Code string

// The protocol's error codes, in one table. Handlers never invent codes: they
// pick one of these (or a documented sub-code built with Sub).
const (
	AuthFailureInvalidAuthorization  Code = "AuthFailure.InvalidAuthorization"
	AuthFailureSecretIdNotFound      Code = "AuthFailure.SecretIdNotFound"
	AuthFailureSignatureExpire       Code = "AuthFailure.SignatureExpire"
	AuthFailureSignatureFailure      Code = "AuthFailure.SignatureFailure"
	AuthFailureTokenFailure          Code = "AuthFailure.TokenFailure"
	AuthFailureUnauthorizedOperation Code = "AuthFailure.UnauthorizedOperation"
	UnauthorizedOperation            Code = "UnauthorizedOperation"
	InvalidAction                    Code = "InvalidAction"
	NoSuchVersion                    Code = "NoSuchVersion"
	MissingParameter                 Code = "MissingParameter"
	UnknownParameter                 Code = "UnknownParameter"
	InvalidParameter                 Code = "InvalidParameter"
	InvalidParameterValue            Code = "InvalidParameterValue"
	RequestLimitExceeded             Code = "RequestLimitExceeded"
	RequestSizeLimitExceeded         Code = "RequestSizeLimitExceeded"
	UnsupportedProtocol              Code = "UnsupportedProtocol"
	UnsupportedOperation             Code = "UnsupportedOperation"
	ResourceNotFound                 Code = "ResourceNotFound"
	ResourceInUse                    Code = "ResourceInUse"
	ResourceUnavailable              Code = "ResourceUnavailable"
	LimitExceeded                    Code = "LimitExceeded"
	FailedOperation                  Code = "FailedOperation"
	ServiceUnavailable               Code = "ServiceUnavailable"
	InternalError                    Code = "InternalError"
)

// Sub returns the sub-code "c.sub" (e.g. InvalidParameter.Sub("DateRange")).
func (c Code) Sub(sub string) Code { return Code(string(c) + "." + sub) }

// codeText is the default message of each code, used when an error carries none.
var codeText = map[Code][2]string{ // {en, zh}
	AuthFailureInvalidAuthorization:  {"The Authorization header is malformed.", "请求头部的 Authorization 不符合腾讯云标准。"},
	AuthFailureSecretIdNotFound:      {"The SecretId does not exist or is disabled.", "密钥不存在或已被禁用。"},
	AuthFailureSignatureExpire:       {"The signature has expired: the timestamp differs from the server time by more than 5 minutes.", "签名过期，Timestamp 与服务器时间相差超过五分钟。"},
	AuthFailureSignatureFailure:      {"The signature does not match.", "签名错误。"},
	AuthFailureTokenFailure:          {"The token is invalid.", "Token 错误。"},
	AuthFailureUnauthorizedOperation: {"The key is not authorized for this operation.", "请求未授权。"},
	UnauthorizedOperation:            {"The key is not authorized for this operation.", "未授权操作。"},
	InvalidAction:                    {"The action does not exist.", "接口不存在。"},
	NoSuchVersion:                    {"The API version does not exist.", "接口版本不存在。"},
	MissingParameter:                 {"A required parameter is missing.", "缺少参数错误。"},
	UnknownParameter:                 {"An unknown parameter was given.", "未知参数错误。"},
	InvalidParameter:                 {"A parameter has the wrong format or type.", "参数错误。"},
	InvalidParameterValue:            {"A parameter value is not allowed.", "参数取值错误。"},
	RequestLimitExceeded:             {"The request rate limit was exceeded.", "请求的次数超过了频率限制。"},
	RequestSizeLimitExceeded:         {"The request body is too large.", "请求包超过限制大小。"},
	UnsupportedProtocol:              {"The HTTP method or protocol is not supported.", "HTTP(S) 请求协议错误，只支持 GET 和 POST 请求。"},
	UnsupportedOperation:             {"The operation is not supported yet.", "操作不支持。"},
	ResourceNotFound:                 {"The resource does not exist.", "资源不存在。"},
	ResourceInUse:                    {"The resource is in use.", "资源被占用。"},
	ResourceUnavailable:              {"The resource is unavailable.", "资源不可用。"},
	LimitExceeded:                    {"A quota limit was exceeded.", "超过配额限制。"},
	FailedOperation:                  {"The operation failed.", "操作失败。"},
	ServiceUnavailable:               {"The service is temporarily unavailable.", "当前服务暂时不可用。"},
	InternalError:                    {"An internal error occurred.", "内部错误。"},
}

// Known reports whether c (or, for a sub-code, its top-level code) is in the table.
func (c Code) Known() bool {
	if _, ok := codeText[c]; ok {
		return true
	}
	for i := len(c) - 1; i > 0; i-- {
		if c[i] == '.' {
			_, ok := codeText[c[:i]]
			return ok
		}
	}
	return false
}

// Error is a protocol error: what the caller sees in Response.Error. It is a Go
// error too; the Go cause (never shown to the caller) is kept for logs via Unwrap.
type Error struct {
	Code  Code
	en    string
	zh    string
	cause error
}

// NewError returns an error with an English and a Chinese message. Messages name
// the offending parameter where there is one.
func NewError(code Code, en, zh string) *Error { return &Error{Code: code, en: en, zh: zh} }

// Errorf returns an error whose message is the same format in both languages
// (for messages that are only names and values).
func Errorf(code Code, format string, args ...any) *Error {
	m := fmt.Sprintf(format, args...)
	return &Error{Code: code, en: m, zh: m}
}

// Wrap attaches a Go cause, kept for logs and errors.Is/As, never sent.
func (e *Error) Wrap(cause error) *Error {
	c := *e
	c.cause = cause
	return &c
}

func (e *Error) Error() string {
	if e.cause != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message(English), e.cause)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message(English))
}

func (e *Error) Unwrap() error { return e.cause }

// Message is the caller-facing text in lang (falling back to the code's default).
func (e *Error) Message(lang Language) string {
	en, zh := e.en, e.zh
	if en == "" && zh == "" {
		t, ok := codeText[e.Code]
		if !ok {
			t = codeText[InternalError]
		}
		en, zh = t[0], t[1]
	}
	if lang == English {
		if en != "" {
			return en
		}
		return zh
	}
	if zh != "" {
		return zh
	}
	return en
}

// AsError maps any error to the protocol error sent to the caller: an *Error
// anywhere in the chain is used as is; anything else is InternalError (its text
// stays in the logs).
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return (&Error{Code: InternalError}).Wrap(err)
}

// Common parameter errors, worded the same everywhere.

// ErrMissingParameter: a required parameter is absent.
func ErrMissingParameter(name string) *Error {
	return NewError(MissingParameter,
		fmt.Sprintf("The required parameter `%s` is missing.", name),
		fmt.Sprintf("缺少必填参数 `%s`。", name))
}

// ErrUnknownParameter: a parameter the action does not define.
func ErrUnknownParameter(name string) *Error {
	return NewError(UnknownParameter,
		fmt.Sprintf("The parameter `%s` is not recognized.", name),
		fmt.Sprintf("未知参数 `%s`。", name))
}

// ErrInvalidParameter: wrong format or JSON type. want describes the expected form ("an integer").
func ErrInvalidParameter(name, want string) *Error {
	return NewError(InvalidParameter,
		fmt.Sprintf("The parameter `%s` must be %s.", name, want),
		fmt.Sprintf("参数 `%s` 格式错误，应为 %s。", name, want))
}

// ErrInvalidParameterValue: the value is well-formed but not allowed; detail says why.
func ErrInvalidParameterValue(name, detailEN, detailZH string) *Error {
	return NewError(InvalidParameterValue,
		fmt.Sprintf("The value of `%s` is invalid: %s", name, detailEN),
		fmt.Sprintf("参数 `%s` 取值错误：%s", name, detailZH))
}
