// Package tcss is the API surface of Tencent Cloud container security
// (service tcss, version 2020-11-01) that vigil serves: one Go type per
// request, response and shared object, the request schema (Schema) and the
// action table (Actions), all generated from the official description by
// internal/cmd/apigen.
//
// Every field is a pointer, as in the official Go SDK, so that "absent" and
// "zero" differ; fields are tagged omitzero, so an empty non-nil list still
// encodes as [] while a nil one is left out.
package tcss

//go:generate go run ../../cmd/apigen -spec ../../../../shared/api/zh-CN/tcss-2020-11-01.api.json -pkg tcss
