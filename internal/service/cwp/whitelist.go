package cwp

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/vigil-sec/vigil/internal/api"
	"github.com/vigil-sec/vigil/internal/api/cwp"
	"github.com/vigil-sec/vigil/internal/server"
	"github.com/vigil-sec/vigil/internal/service/svc"
	"github.com/vigil-sec/vigil/internal/store"
)

// registerWhitelistActions: CreateMalwareWhiteList, DescribeMalwareWhiteList, DeleteMalwareWhiteList.
func (h *handlers) registerWhitelistActions(mux *server.Mux) {
	server.Handle(mux, Version, cwp.ActionCreateMalwareWhiteList, h.createMalwareWhiteList)
	server.Handle(mux, Version, cwp.ActionDescribeMalwareWhiteList, h.describeMalwareWhiteList)
	server.Handle(mux, Version, cwp.ActionDeleteMalwareWhiteList, h.deleteMalwareWhiteList)
}

// zeroOne reads an optional 0/1 flag.
func zeroOne(name string, v *uint64) (bool, error) {
	switch api.Value(v) {
	case 0:
		return false, nil
	case 1:
		return true, nil
	}
	return false, api.ErrInvalidParameterValue(name, "must be 0 or 1.", "取值须为 0 或 1。")
}

// textList checks a list of file names, directories or extensions.
func textList(name string, in []*string, decode func(string) (string, bool)) ([]string, error) {
	if len(in) > store.MaxWhitelistNames {
		return nil, api.ErrInvalidParameterValue(name, fmt.Sprintf("at most %d values.", store.MaxWhitelistNames), fmt.Sprintf("最多 %d 个取值。", store.MaxWhitelistNames))
	}
	var out []string
	for i, p := range in {
		param := fmt.Sprintf("%s.%d", name, i)
		v := strings.TrimSpace(api.Value(p))
		if v == "" {
			return nil, api.ErrInvalidParameterValue(param, "is empty.", "为空。")
		}
		if decode != nil {
			var ok bool
			if v, ok = decode(v); !ok {
				return nil, api.ErrInvalidParameterValue(param, "must be an absolute directory (\"/var/www\") or one in base64.",
					"须为绝对目录（\"/var/www\"）或其 base64 编码。")
			}
		}
		if len(v) > store.MaxWhitelistText {
			return nil, api.ErrInvalidParameterValue(param, fmt.Sprintf("is longer than %d bytes.", store.MaxWhitelistText),
				fmt.Sprintf("长度超过 %d 字节。", store.MaxWhitelistText))
		}
		out = append(out, v)
	}
	return out, nil
}

// directory reads a FileDirectory value: the official description says
// "content base64 escaped" while its example sends "/var/www", so both are
// accepted — a value starting with "/" is a path, anything else must be the
// base64 of one.
func directory(v string) (string, bool) {
	if strings.HasPrefix(v, "/") {
		return v, true
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(v); err == nil && utf8.Valid(b) && strings.HasPrefix(string(b), "/") {
			return string(b), true
		}
	}
	return "", false
}

func (h *handlers) createMalwareWhiteList(ctx context.Context, c *server.Call, req *cwp.CreateMalwareWhiteListRequest) (*cwp.CreateMalwareWhiteListResponse, error) {
	r := store.WhitelistRule{Product: store.WhitelistCWP}
	switch api.Value(req.Mode) {
	case 0:
		r.Mode = store.WhitelistModeMD5
	case 1:
		r.Mode = store.WhitelistModeCustom
	default:
		return nil, api.ErrInvalidParameterValue("Mode", "must be 0 (MD5) or 1 (custom).", "取值须为 0（MD5）或 1（自定义）。")
	}
	fuzzy, err := zeroOne("MatchType", req.MatchType)
	if err != nil {
		return nil, err
	}
	if fuzzy {
		r.MatchType = store.MatchFuzzy
	}
	if r.IsGlobal, err = zeroOne("IsGlobal", req.IsGlobal); err != nil {
		return nil, err
	}
	history, err := zeroOne("IsHandleHistoryEvents", req.IsHandleHistoryEvents)
	if err != nil {
		return nil, err
	}
	if req.EventId != nil {
		return nil, api.ErrInvalidParameterValue("EventId", "vigil has no file-scan (MALWARE) events; name a risk-process event with ProcessEventID.",
			"vigil 没有木马文件事件（MALWARE）；请用 ProcessEventID 指定异常进程事件。")
	}
	// Only the fields of the chosen mode count (the official example sends
	// all of them).
	if r.Mode == store.WhitelistModeMD5 {
		if len(req.Md5List) > store.MaxWhitelistValues {
			return nil, api.ErrInvalidParameterValue("Md5List", fmt.Sprintf("at most %d values.", store.MaxWhitelistValues), fmt.Sprintf("最多 %d 个取值。", store.MaxWhitelistValues))
		}
		for i, p := range req.Md5List {
			m := strings.ToLower(strings.TrimSpace(api.Value(p)))
			if !store.IsMD5(m) {
				return nil, api.ErrInvalidParameterValue(fmt.Sprintf("Md5List.%d", i), "is not an MD5 (32 hex digits).", "不是 MD5（32 位十六进制）。")
			}
			r.MD5s = append(r.MD5s, m)
		}
	} else {
		if r.FileNames, err = textList("FileName", req.FileName, nil); err != nil {
			return nil, err
		}
		if r.FileDirs, err = textList("FileDirectory", req.FileDirectory, directory); err != nil {
			return nil, err
		}
		if r.FileExtensions, err = textList("FileExtension", req.FileExtension, nil); err != nil {
			return nil, err
		}
	}
	var source *store.RiskProcessEvent
	if req.ProcessEventID != nil {
		e, err := h.Store.GetRiskProcessEvent(ctx, c.AccountID, int64(min(*req.ProcessEventID, 1<<62)))
		if err != nil {
			return nil, svc.StoreError(err, "ProcessEventID", fmt.Sprint(*req.ProcessEventID))
		}
		source = &e
		switch {
		case r.Mode == store.WhitelistModeMD5:
			m := strings.ToLower(e.ExeMD5)
			if !store.IsMD5(m) {
				return nil, api.ErrInvalidParameterValue("ProcessEventID", "the event has no executable MD5; use Mode 1 (its file name and directory).",
					"该事件没有可执行文件 MD5；请用 Mode 1（按文件名与目录）。")
			}
			if !slices.Contains(r.MD5s, m) {
				r.MD5s = append(r.MD5s, m)
			}
		case len(r.FileNames)+len(r.FileDirs)+len(r.FileExtensions) == 0:
			if e.ExePath == "" {
				return nil, api.ErrInvalidParameterValue("ProcessEventID", "the event has no executable path.", "该事件没有可执行文件路径。")
			}
			r.FileNames, r.FileDirs = []string{path.Base(e.ExePath)}, []string{path.Dir(e.ExePath)}
		}
	}
	if !r.IsGlobal {
		for i, p := range req.QuuidList {
			if q := strings.TrimSpace(api.Value(p)); q != "" {
				page, err := h.Store.QueryHosts(ctx, c.AccountID, store.HostQuery{QUUIDs: []string{q}, Limit: 1})
				if err != nil {
					return nil, err
				}
				if len(page.Items) == 0 {
					return nil, api.NewError(api.ResourceNotFound, fmt.Sprintf("QuuidList.%d: no host has the QUUID %q.", i, q),
						fmt.Sprintf("QuuidList.%d：没有 QUUID 为 %q 的主机。", i, q))
				}
				r.QUUIDs = append(r.QUUIDs, q)
			}
		}
		if len(r.QUUIDs) == 0 && source != nil && source.Host.QUUID != "" {
			r.QUUIDs = []string{source.Host.QUUID} // the event's host
		}
		if len(r.QUUIDs) == 0 {
			return nil, api.ErrMissingParameter("QuuidList")
		}
	}
	switch {
	case r.Mode == store.WhitelistModeMD5 && len(r.MD5s) == 0:
		return nil, api.ErrMissingParameter("Md5List")
	case r.Mode == store.WhitelistModeCustom && len(r.FileNames)+len(r.FileDirs)+len(r.FileExtensions) == 0:
		return nil, api.ErrMissingParameter("FileName")
	}
	created, err := h.Store.CreateWhitelistRule(ctx, c.AccountID, r)
	if err != nil {
		return nil, svc.StoreError(err, "Mode", "")
	}
	// The event the rule was made from is trusted now; with
	// IsHandleHistoryEvents, so is every pending event the rule matches.
	var trusted []int64
	if source != nil && source.HandleStatus != store.HandleIgnored {
		trusted = append(trusted, source.ID)
	}
	if history {
		refs, err := h.Store.SelectRiskEvents(ctx, c.AccountID, store.RiskEventSelection{All: true,
			Filter: store.RiskProcessEventQuery{HandleStatuses: []store.HandleStatus{store.HandlePending}}}, 0)
		if err != nil {
			return nil, err
		}
		for _, e := range refs {
			if created.Matches(e.QUUID, store.WhitelistFile{MD5: e.ExeMD5, Path: e.ExePath}) && !slices.Contains(trusted, e.ID) {
				trusted = append(trusted, e.ID)
			}
		}
	}
	var n int64
	for chunk := range slices.Chunk(trusted, store.MaxSelectionIDs) {
		m, err := h.Store.SetRiskEventsStatus(ctx, c.AccountID, store.RiskEventSelection{IDs: chunk}, store.HandleIgnored, h.Now())
		if err != nil {
			return nil, err
		}
		n += m
	}
	if err := h.Store.AddWhitelistHits(ctx, c.AccountID, map[int64]int64{created.ID: n}); err != nil {
		return nil, err
	}
	return &cwp.CreateMalwareWhiteListResponse{}, nil
}

func (h *handlers) describeMalwareWhiteList(ctx context.Context, c *server.Call, req *cwp.DescribeMalwareWhiteListRequest) (*cwp.DescribeMalwareWhiteListResponse, error) {
	limit, offset, err := svc.PagingU(req.Limit, req.Offset)
	if err != nil {
		return nil, err
	}
	desc, err := svc.Desc(req.Order)
	if err != nil {
		return nil, err
	}
	q := store.WhitelistQuery{Product: store.WhitelistCWP, Limit: limit, Offset: offset, Desc: desc}
	switch api.Value(req.By) {
	case "", "CreateTime":
	case "ModifyTime":
		q.OrderBy = store.WhitelistByModifyTime
	case "EventsCount":
		q.OrderBy = store.WhitelistByEventsCount
	default:
		return nil, api.ErrInvalidParameterValue("By", "must be EventsCount, CreateTime or ModifyTime.", "取值须为 EventsCount、CreateTime 或 ModifyTime。")
	}
	fs, err := svc.Filters("Filters", cwpFilters(req.Filters), "HostIp", "FileName", "FileDirectory", "FileExtension", "Mode", "Md5")
	if err != nil {
		return nil, err
	}
	q.HostIPs = fs["HostIp"].Text()
	q.FileNames = fs["FileName"].Text()
	q.FileDirs = fs["FileDirectory"].Text()
	q.FileExtensions = fs["FileExtension"].Text()
	q.MD5s = fs["Md5"].Text()
	if f, ok := fs["Mode"]; ok {
		for i, v := range f.Values {
			switch v {
			case "0":
				q.Modes = append(q.Modes, store.WhitelistModeMD5)
			case "1":
				q.Modes = append(q.Modes, store.WhitelistModeCustom)
			default:
				return nil, api.ErrInvalidParameterValue(f.ValueParam(i), "Mode is 0 (MD5) or 1 (custom).", "Mode 取值为 0（MD5）或 1（自定义）。")
			}
		}
	}
	page, err := h.Store.QueryWhitelistRules(ctx, c.AccountID, q)
	if err != nil {
		return nil, svc.StoreError(err, "Filters", "")
	}
	resp := &cwp.DescribeMalwareWhiteListResponse{
		TotalCount: api.Ptr(uint64(page.Total)),
		WhiteList:  make([]*cwp.MalwareWhiteListInfo, 0, len(page.Items)),
	}
	for _, r := range page.Items {
		resp.WhiteList = append(resp.WhiteList, &cwp.MalwareWhiteListInfo{
			Id:            api.Ptr(uint64(r.ID)),
			QuuidList:     api.Ptr(strings.Join(r.QUUIDs, ",")),
			Md5List:       api.Ptr(strings.Join(r.MD5s, ",")),
			IsGlobal:      api.Ptr(b2u(r.IsGlobal)),
			Mode:          api.Ptr(uint64(r.Mode)),
			MatchType:     api.Ptr(uint64(r.MatchType)),
			FileName:      api.Ptr(strings.Join(r.FileNames, ",")),
			FileDirectory: api.Ptr(strings.Join(r.FileDirs, ",")),
			FileExtension: api.Ptr(strings.Join(r.FileExtensions, ",")),
			CreateTime:    api.Ptr(svc.FormatCwp(r.CreatedAt, h.Location)),
			ModifyTime:    api.Ptr(svc.FormatCwp(r.UpdatedAt, h.Location)),
			EventsCount:   api.Ptr(uint64(max(r.EventsCount, 0))),
		})
	}
	return resp, nil
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

func (h *handlers) deleteMalwareWhiteList(ctx context.Context, c *server.Call, req *cwp.DeleteMalwareWhiteListRequest) (*cwp.DeleteMalwareWhiteListResponse, error) {
	if len(req.Ids) == 0 {
		return nil, api.ErrMissingParameter("Ids")
	}
	if len(req.Ids) > 100 {
		return nil, api.ErrInvalidParameterValue("Ids", "at most 100 ids.", "最多 100 个。")
	}
	ids := make([]int64, 0, len(req.Ids))
	for i, p := range req.Ids {
		if p == nil || *p == 0 || *p > 1<<62 {
			return nil, api.ErrInvalidParameterValue(fmt.Sprintf("Ids.%d", i), "must be a whitelist rule id.", "须为白名单规则 ID。")
		}
		ids = append(ids, int64(*p))
	}
	err := h.Store.DeleteWhitelistRules(ctx, c.AccountID, store.WhitelistCWP, ids)
	if errors.Is(err, store.ErrNotFound) {
		// Name the first id that is not the account's (nothing was deleted).
		for i, id := range ids {
			if _, gerr := h.Store.GetWhitelistRule(ctx, c.AccountID, store.WhitelistCWP, id); errors.Is(gerr, store.ErrNotFound) {
				return nil, svc.StoreError(err, fmt.Sprintf("Ids.%d", i), fmt.Sprint(id))
			}
		}
	}
	if err != nil {
		return nil, svc.StoreError(err, "Ids", "")
	}
	return &cwp.DeleteMalwareWhiteListResponse{}, nil
}
